"""Embedding latency: the numpy forward pass (adapters/embeddings.py) against the ONNX
Runtime export it replaced, in one run on one machine.

    python scripts/bench_embeddings.py     (OPENBLAS_NUM_THREADS=2 to give numpy two threads)

The ONNX side needs torch, transformers and onnxruntime (the dev venv has them; the
package no longer does): the model is exported here the way the old code did, into a
temporary directory. Without them only the numpy figures are printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tria_graph.adapters.embeddings import MAX_TOKENS, LocalEmbeddings  # noqa: E402

SHORT = "Do you deliver to Jurong on Saturdays?"
# 64 messages of the lengths customers write: short questions to a few sentences.
BATCH = [
    f"Order {i}: {n} cartons of {item}, delivery on {day}. " * (1 + i % 4)
    for i, (n, item, day) in enumerate(
        (n, item, day)
        for n in (2, 10, 25, 40)
        for item in ("8oz paper cups", "kraft bags", "500ml PP containers", "pizza boxes")
        for day in ("Tuesday", "Thursday", "Saturday", "next week")
    )
]
assert len(BATCH) == 64


def timed(sides: dict, texts: list[str], repeat: int) -> dict[str, float]:
    """Median milliseconds per side of encoding `texts`, after two warm-up calls. The
    sides take turns call by call, so a busy machine slows both alike."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(repeat + 2):
        for name, encode in sides.items():
            start = time.perf_counter()
            encode(texts)
            if round_ >= 2:
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def onnx_encoder(model_dir: Path, tmp: Path):
    """An `encode(texts) -> vectors` on an ONNX export, as the old adapter served it."""
    import onnxruntime
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in names)
    path = tmp / "model.onnx"
    torch.onnx.export(
        LastHiddenState(model), sample, str(path), input_names=names, output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
        opset_version=17, dynamo=False,
    )
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = min(2, os.cpu_count() or 1)  # as the old adapter did
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        w = mask[..., None].astype(np.float32)
        pooled = (hidden * w).sum(axis=1) / w.sum(axis=1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return encode


def main() -> None:
    # Each side as its adapter runs it: numpy on one BLAS thread (unless
    # OPENBLAS_NUM_THREADS says otherwise), ONNX Runtime on two intra-op threads.
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalEmbeddings(Path(tmp))
        start = time.perf_counter()
        local.load()
        loads = {"numpy": (time.perf_counter() - start) * 1000}
        sides = {"numpy": local._encode}
        try:
            start = time.perf_counter()
            sides["onnxruntime"] = onnx_encoder(local.model_dir, Path(tmp))
            loads["onnxruntime"] = (time.perf_counter() - start) * 1000
        except ImportError as exc:
            print(f"(ONNX side skipped: {exc})")
        else:
            diff = np.abs(sides["onnxruntime"](BATCH) - local._encode(BATCH)).max()
            print(f"max |onnx - numpy| over the batch: {diff:.1e}")
        one = timed(sides, [SHORT], 50)
        batch = timed(sides, BATCH, 10)
    print(f"{'':12} {'load ms':>9} {'1 sentence ms':>14} {'64 sentences ms':>16}")
    for name in sorted(sides, reverse=True):
        print(f"{name:12} {loads[name]:9.0f} {one[name]:14.2f} {batch[name]:16.1f}")
    print("(load: numpy reads the weights; onnxruntime exports the model with torch, then opens it)")


if __name__ == "__main__":
    main()
