"""Embedding latency, in one run on one machine, of three ways to run all-MiniLM-L6-v2:

- `onnx (torch export)`: the ONNX graph torch's exporter wrote, as the adapter did
  before the numpy version (needs torch and transformers: the dev venv has them, the
  package does not; skipped without them);
- `onnx (onnx.helper)`: today's adapter, `LocalEmbeddings` (tria_graph/adapters/
  embeddings.py): the same graph written from the safetensors weights without torch;
- `numpy`: the numpy forward pass that served the model in between, kept here (not in
  the package) for the comparison, on one BLAS thread as it ran.

    python scripts/bench_embeddings.py

Each ONNX Runtime side runs on the adapter's intra-op threads (`_THREADS`).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tria_graph.adapters.embeddings import _THREADS, MAX_TOKENS, LocalEmbeddings, _session  # noqa: E402

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
    sides take turns call by call, so a busy machine slows all alike."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(repeat + 2):
        for name, encode in sides.items():
            start = time.perf_counter()
            encode(texts)
            if round_ >= 2:
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def tokenizer_for(model_dir: Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def tokens(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    return ids, np.array([e.attention_mask for e in encodings], dtype=np.int64)


def torch_onnx_encoder(model_dir: Path, tmp: Path):
    """An `encode(texts) -> vectors` on the torch export, as the old adapter served it."""
    import torch
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
    tokenizer = tokenizer_for(model_dir)
    session = _session(path.read_bytes())  # the adapter's session options

    def encode(texts: list[str]) -> np.ndarray:
        ids, mask = tokens(tokenizer, texts)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        w = mask[..., None].astype(np.float32)
        pooled = (hidden * w).sum(axis=1) / w.sum(axis=1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return encode


# The numpy forward pass (tria_graph/adapters/embeddings.py before the ONNX graph).
def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * weight + bias


# erf by Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, float32's own resolution.
# scipy.special.erf gives the same GELU but, scalar double-precision code, it took
# two thirds of a 64-sentence batch (docs/packaging.md); this is a few array passes.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's "gelu": the exact x * Phi(x) = x/2 * (1 + erf(x/sqrt 2)), not the tanh
    approximation. In place where it can be: these arrays are the largest of a pass."""
    s = x * np.float32(1 / np.sqrt(2))
    a = np.abs(s)
    t = a * _ERF_P
    t += 1
    np.reciprocal(t, out=t)
    poly = t * _ERF_A[0]
    for coefficient in _ERF_A[1:]:  # Horner: ((((a5 t + a4) t + a3) t + a2) t + a1) t
        poly += coefficient
        poly *= t
    a *= a
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1, poly, out=poly)  # erf(|s|)
    np.copysign(poly, s, out=poly)  # erf(s)
    poly += 1
    poly *= x
    poly *= np.float32(0.5)
    return poly


class NumpyBert:
    """The forward pass of a BERT encoder in float32 numpy: token, position and
    token-type embeddings, then `num_hidden_layers` of self-attention and feed-forward,
    each followed by a residual add and LayerNorm (post-LN, as in the original BERT).

    Inference only (no dropout). Token types are all 0: one segment per text.
    """

    def __init__(self, weights: dict[str, np.ndarray], config: dict) -> None:
        if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("Only BERT with exact GELU and absolute positions is supported.")
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        hidden = int(config["hidden_size"])
        self.head_size = hidden // self.heads

        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        def linear(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            # Stored (out, in) as torch's Linear keeps them; transposed once so a
            # layer is `x @ W + b`.
            return np.ascontiguousarray(w(f"{prefix}.weight").T), w(f"{prefix}.bias")

        self.word = w("embeddings.word_embeddings.weight")
        self.position = w("embeddings.position_embeddings.weight")
        self.token_type0 = w("embeddings.token_type_embeddings.weight")[0]
        self.embed_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}"
            q, k, v = (linear(f"{p}.attention.self.{name}") for name in ("query", "key", "value"))
            self.layers.append(
                {
                    # Query, key and value in one matrix product.
                    "qkv": (np.concatenate([q[0], k[0], v[0]], axis=1), np.concatenate([q[1], k[1], v[1]])),
                    "attn_out": linear(f"{p}.attention.output.dense"),
                    "attn_norm": (w(f"{p}.attention.output.LayerNorm.weight"), w(f"{p}.attention.output.LayerNorm.bias")),
                    "ffn_in": linear(f"{p}.intermediate.dense"),
                    "ffn_out": linear(f"{p}.output.dense"),
                    "ffn_norm": (w(f"{p}.output.LayerNorm.weight"), w(f"{p}.output.LayerNorm.bias")),
                }
            )

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Hidden states of the real tokens, (tokens, hidden) in row order: row i of the
        batch's real tokens, then row i+1's (`mask` marks them, padding is 0).

        Only attention mixes tokens. Everything else (the dense layers, GELU, LayerNorm:
        nearly all the work) runs on the real tokens alone, not on the padding a batch
        of unequal texts carries; attention alone sees the padded (batch, tokens) shape.
        """
        batch, tokens = ids.shape
        real = np.flatnonzero(mask.reshape(-1))  # positions of the real tokens in batch * tokens
        positions = real % tokens
        x = self.word[ids.reshape(-1)[real]] + self.position[positions] + self.token_type0
        x = _layer_norm(x, *self.embed_norm, self.eps)
        # Padding gets a large negative score, so softmax gives it no weight.
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1 / np.sqrt(self.head_size))
        hidden = x.shape[1]
        for layer in self.layers:
            padded = np.zeros((batch * tokens, 3 * hidden), dtype=np.float32)
            padded[real] = x @ layer["qkv"][0] + layer["qkv"][1]
            # (batch, tokens, 3, heads, head_size) -> three (batch, heads, tokens, head_size)
            q, k, v = padded.reshape(batch, tokens, 3, self.heads, self.head_size).transpose(2, 0, 3, 1, 4)
            scores = (q * scale) @ k.transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * tokens, hidden)[real]
            x = _layer_norm(context @ layer["attn_out"][0] + layer["attn_out"][1] + x, *layer["attn_norm"], self.eps)
            x = self._feed_forward(x, layer)
        return x  # (real tokens, hidden): mean-pool with np.add.reduceat

    def _feed_forward(self, x: np.ndarray, layer: dict, rows: int = 256) -> np.ndarray:
        # In blocks of rows: the 4x wider intermediate then stays small enough for the
        # CPU's caches instead of making a dozen trips through memory in GELU.
        out = np.empty_like(x)
        for start in range(0, len(x), rows):
            block = x[start : start + rows]
            inner = _gelu(block @ layer["ffn_in"][0] + layer["ffn_in"][1])
            out[start : start + rows] = _layer_norm(
                inner @ layer["ffn_out"][0] + layer["ffn_out"][1] + block, *layer["ffn_norm"], self.eps
            )
        return out


def numpy_encoder(model_dir: Path):
    from safetensors.numpy import load_file
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")  # as the numpy adapter ran
    config = json.loads((model_dir / "config.json").read_text())
    bert = NumpyBert(load_file(str(model_dir / "model.safetensors")), config)
    tokenizer = tokenizer_for(model_dir)

    def encode(texts: list[str]) -> np.ndarray:
        ids, mask = tokens(tokenizer, texts)
        hidden = bert(ids, mask)
        counts = mask.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pooled = np.add.reduceat(hidden, starts, axis=0) / counts[:, None]
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return encode


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalEmbeddings(Path(tmp))
        start = time.perf_counter()
        local.load()
        loads = {"onnx (onnx.helper)": (time.perf_counter() - start) * 1000}
        sides = {"onnx (onnx.helper)": local._encode}
        try:
            start = time.perf_counter()
            sides["onnx (torch export)"] = torch_onnx_encoder(local.model_dir, Path(tmp))
            loads["onnx (torch export)"] = (time.perf_counter() - start) * 1000
        except ImportError as exc:
            print(f"(torch export skipped: {exc})")
        start = time.perf_counter()
        sides["numpy"] = numpy_encoder(local.model_dir)
        loads["numpy"] = (time.perf_counter() - start) * 1000
        ours = local._encode(BATCH)
        for name, encode in sides.items():
            if encode is local._encode:
                continue
            print(f"max |{name} - onnx (onnx.helper)| over the batch: {np.abs(encode(BATCH) - ours).max():.1e}")
        one = timed(sides, [SHORT], 50)
        batch = timed(sides, BATCH, 10)
    print(f"ONNX Runtime intra-op threads: {_THREADS}")
    print(f"{'':20} {'load ms':>9} {'1 sentence ms':>14} {'64 sentences ms':>16}")
    for name in ("onnx (torch export)", "onnx (onnx.helper)", "numpy"):
        if name in sides:
            print(f"{name:20} {loads[name]:9.0f} {one[name]:14.2f} {batch[name]:16.1f}")
    print("(load: torch export = export with torch, then open; onnx.helper = write the graph")
    print(" from the weights, then open (LocalEmbeddings.load); numpy = read the weights)")


if __name__ == "__main__":
    main()
