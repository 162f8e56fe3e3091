"""The policy knowledge base: markdown documents split into passages, in Chroma.

A passage is one paragraph or one bullet of a policy document. It keeps the
document's title and the section heading it sits under, so a reply can name its
source, and it is embedded together with that heading so short rules still carry
their topic.

Search is hybrid: the small embedding model misses some plain keyword matches
("what are your delivery days" vs "Tria delivers on Tuesday, ..."), so vector hits
are fused with BM25 keyword hits by reciprocal rank.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import chromadb
import numpy as np
from rank_bm25 import BM25Okapi
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ..config import Settings
from ..domain.catalog import Product
from ..domain.money import fmt


@dataclass(frozen=True)
class Passage:
    document: str
    section: str
    text: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.document} {self.section}".lower()).strip("-")
        # hashlib, not hash(): the same passage must get the same id in every process.
        return f"{slug}-{hashlib.sha1(self.text.encode()).hexdigest()[:8]}"


def split_markdown(markdown: str) -> list[Passage]:
    """Passages of one document: paragraphs and bullets under `## ` sections."""
    title, section = "", ""
    passages: list[Passage] = []
    block: list[str] = []

    def flush() -> None:
        text = " ".join(line.strip() for line in block).strip()
        block.clear()
        if text and title:
            passages.append(Passage(title, section or title, _plain(text)))

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("# "):
            flush()
            title = stripped[2:].strip()
        elif stripped.startswith("## ") or stripped.startswith("### "):
            flush()
            section = stripped.lstrip("#").strip()
        elif not stripped:
            flush()
        elif re.match(r"^([-*+]|\d+\.)\s+", stripped):
            flush()
            block.append(re.sub(r"^([-*+]|\d+\.)\s+", "", stripped))
        else:
            block.append(stripped)
    flush()
    return passages


def _plain(text: str) -> str:
    """Markdown emphasis and links out, for quoting in a chat reply."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    return re.sub(r"(?<!\w)[*_](\S[^*_]*\S|\S)[*_](?!\w)", r"\1", text)


def catalog_passages(products: Iterable[Product]) -> list[Passage]:
    """The product catalogue as passages, so product questions retrieve prices."""
    return [
        Passage(
            "Product Catalogue",
            p.category.replace("_", " ").title(),
            f"{p.name} ({p.sku}) costs {fmt(p.price)} per {p.unit} before GST; "
            f"the minimum order is {p.min_order_qty} {p.unit}s.",
        )
        for p in products
    ]


def load_policy_passages(policy_dir: Path) -> list[Passage]:
    passages: list[Passage] = []
    for path in sorted(policy_dir.glob("*.md")):
        passages.extend(split_markdown(path.read_text(encoding="utf-8")))
    return passages


LOCAL_MODEL_ID = "local:all-MiniLM-L6-v2"


class EmbeddingModelMismatch(RuntimeError):
    """The collection was built with another embedding model than the settings name."""


class PolicyKB:
    """The passages in a Chroma collection: embedded on disk (persist_dir), or on a
    Chroma server when `host` is given.

    The collection's metadata records which embedding model built it
    (`embedding_model`, e.g. "openai:text-embedding-3-small"): vectors of one model
    are meaningless to another, so `check_model` refuses a mismatch with the command
    that fixes it. Collections from before this record count as the local model."""

    def __init__(
        self,
        embeddings: Embeddings,
        persist_dir: Path,
        collection: str,
        host: str = "",
        port: int = 8000,
        embedding_model: str = LOCAL_MODEL_ID,
    ) -> None:
        self.embeddings = embeddings
        self.embedding_model = embedding_model
        self.persist_dir = Path(persist_dir)
        self.collection = collection
        self.host = host
        self.port = port
        self._store: Chroma | None = None
        self._keyword_index: tuple[BM25Okapi, list[dict]] | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._version = ""

    @classmethod
    def from_settings(cls, settings: Settings, embeddings: Embeddings, embedding_model: str = LOCAL_MODEL_ID) -> PolicyKB:
        return cls(
            embeddings,
            settings.resolved_chroma_dir,
            settings.chroma_collection,
            host=settings.chroma_host,
            port=settings.chroma_port,
            embedding_model=embedding_model,
        )

    def built_with(self) -> str:
        """The embedding model that built the collection."""
        metadata = self.store._collection.metadata or {}
        return metadata.get("embedding_model", LOCAL_MODEL_ID)

    def check_model(self) -> None:
        built = self.built_with()
        if built != self.embedding_model:
            raise EmbeddingModelMismatch(
                f"The knowledge base was built with the embedding model {built!r}, but the "
                f"settings (EMBEDDINGS) select {self.embedding_model!r}: run `tria kb build`."
            )

    @property
    def store(self) -> Chroma:
        if self._store is None:
            telemetry_off = chromadb.config.Settings(anonymized_telemetry=False)
            if self.host:
                client = chromadb.HttpClient(host=self.host, port=self.port, settings=telemetry_off)
            else:
                self.persist_dir.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(self.persist_dir), settings=telemetry_off)
            self._store = Chroma(
                client=client,
                collection_name=self.collection,
                embedding_function=self.embeddings,
                collection_metadata={"hnsw:space": "cosine", "embedding_model": self.embedding_model},
            )
        return self._store

    def count(self) -> int:
        return self.store._collection.count()

    def build(
        self,
        passages: list[Passage],
        batch_size: int = 32,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace the collection's contents with these passages."""
        self.store.reset_collection()
        self._keyword_index = None
        for start in range(0, len(passages), batch_size):
            batch = passages[start : start + batch_size]
            self.store.add_documents(
                [
                    Document(
                        page_content=f"{p.section}: {p.text}",
                        metadata={"document": p.document, "section": p.section, "text": p.text},
                    )
                    for p in batch
                ],
                ids=[f"{start + i:05d}-{p.id}" for i, p in enumerate(batch)],
            )
            if on_progress:
                on_progress(len(batch))
        return self.count()

    def search(self, query: str, k: int = 4) -> list[dict]:
        """Best passages first: document, section, text and cosine similarity `score`."""
        vector = self.embeddings.embed_query(query)
        pool = max(k * 3, 10)
        hits = self.store.similarity_search_by_vector_with_relevance_scores(vector, k=pool)
        # Chroma returns cosine distance for this collection: lower is closer.
        by_text = {
            doc.metadata["text"]: {
                "document": doc.metadata["document"],
                "section": doc.metadata["section"],
                "text": doc.metadata["text"],
                "score": round(1.0 - float(distance), 4),
            }
            for doc, distance in hits
        }
        fused: dict[str, float] = {}
        for rank, text in enumerate(by_text):
            fused[text] = 1.0 / (_RRF_K + rank)
        bm25, passages = self._keywords()
        terms = _terms(query)
        if terms:
            scores = bm25.get_scores(terms)
            ranked = sorted(range(len(passages)), key=lambda i: -scores[i])[:pool]
            for rank, i in enumerate(ranked):
                if scores[i] <= 0:
                    break
                passage = passages[i]
                by_text.setdefault(passage["text"], {**passage, "score": None})
                fused[passage["text"]] = fused.get(passage["text"], 0.0) + 1.0 / (_RRF_K + rank)
        best = sorted(fused, key=lambda t: -fused[t])[:k]
        results = [by_text[t] for t in best]
        for r in results:
            if r["score"] is None:  # a keyword-only hit: score it from its stored vector
                r["score"] = round(float(self._vectors[r["text"]] @ vector), 4)
        return results

    def load(self) -> None:
        """Build the in-memory keyword index now, not on the first question."""
        self._keywords()

    @property
    def version(self) -> str:
        """A digest of the loaded passages: cached answers are keyed by it, so a rebuilt
        knowledge base never serves answers from the old one."""
        self._keywords()
        return self._version

    def _keywords(self) -> tuple[BM25Okapi, list[dict]]:
        if self._keyword_index is None:
            data = self.store.get(include=["metadatas", "embeddings"])
            self._vectors = {
                m["text"]: np.asarray(v, dtype=np.float32)
                for m, v in zip(data["metadatas"], data["embeddings"])
            }
            passages = [
                {"document": m["document"], "section": m["section"], "text": m["text"]}
                for m in data["metadatas"]
            ]
            corpus = [_terms(f"{p['section']} {p['text']}") or ["_"] for p in passages]
            self._keyword_index = (BM25Okapi(corpus), passages)
            digest = hashlib.sha256()
            for p in sorted(passages, key=lambda p: (p["document"], p["section"], p["text"])):
                digest.update(f"{p['document']}\x1f{p['section']}\x1f{p['text']}\x1e".encode())
            self._version = digest.hexdigest()[:16]
        return self._keyword_index


_RRF_K = 60
_STOPWORDS = set(
    "a an the is are was were be been do does did to of in on at for by with from and or "
    "if it its this that these those i we you your our my me us can could would should "
    "will what when where which who how why there here any some much many have has had "
    "not no yes please pls get".split()
)


def _terms(text: str) -> list[str]:
    """Keyword terms: lower case, stop words out, cut to 6 letters as a cheap stem
    (deliver / delivery / deliveries all become 'delive')."""
    return [w[:6] for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]
