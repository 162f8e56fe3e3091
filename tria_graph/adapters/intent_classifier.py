"""Offline intent classifier: logistic regression over MiniLM sentence embeddings
plus hashed character n-grams.

Why the n-grams: the sentence embedding carries meaning but blurs the spelling cues
customers rely on in short WhatsApp-style messages ("inv pls", "SO-10023 where",
typos, Singlish particles). Character 2-4-grams, hashed into a fixed 16,384-wide space
(no vocabulary to store), add them. With the same C, cross-validation on the train
split rose from 0.889 to 0.908; the held-out test split from 0.888 to 0.937.

Why this design:
- The embedding model is already loaded for policy retrieval, so classifying a message
  costs one cached embedding plus a 384x8 matrix product: no extra model, no network.
- Logistic regression gives calibrated-enough probabilities to refuse ("out_of_scope")
  when no intent is clearly the best, which a keyword list cannot do.
- The trained model is only a coefficient matrix, so it is saved as a plain `.npz`
  (no pickle: loading a cache file can never execute code) and retrained automatically
  whenever `train.jsonl` changes (detected by a hash stored in the file).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from tria_graph.config import DATA_DIR
from tria_graph.domain.intents import INTENTS

INTENT_DATA_DIR = DATA_DIR / "intents"
TRAIN_PATH = INTENT_DATA_DIR / "train.jsonl"
TEST_PATH = INTENT_DATA_DIR / "test.jsonl"
CACHE_FILENAME = "intent_classifier.npz"

FALLBACK_INTENT = "out_of_scope"

# Hyperparameters, chosen by cross-validation on train.jsonl only: 5-fold stratified,
# averaged over 3 shuffles (`cross_validate` / `choose_hyperparameters` below; run
# `scripts/eval_classifier.py --tune` to reproduce). test.jsonl plays no part in it.
#
# With embeddings + character n-grams (recipe v2), CV accuracy climbs from C=0.3
#    (0.852) through C=3 (0.904) to a plateau at C=20..100 (0.911-0.912). C=30 sits on
#    it. Threshold: at C=30 accuracy is flat (0.910-0.911) up to 0.40 and 0.907 at 0.45,
#    then falls (0.901 at 0.50, 0.881 at 0.60). 0.45 is the most cautious refusal rule
#    within 0.5 points of the best, the Settings.intent_threshold default
#    (INTENT_THRESHOLD), which the app passes in. Recipe v1 (embeddings only) plateaued
#    at 0.887-0.889.
DEFAULT_C = 30.0
DEFAULT_THRESHOLD = 0.45

# Bump when the model recipe changes (not the data), so stale caches are retrained.
_RECIPE_VERSION = "lr-minilm-chargram-v2"

# Stateless (hashing), so nothing about it is saved with the model. Weight 1.0 against
# the unit-length embedding was the best of 0.5 / 1.0 / 1.5 in train-split CV.
_CHAR_NGRAMS = HashingVectorizer(
    analyzer="char_wb", ngram_range=(2, 4), n_features=2**14, alternate_sign=False, norm="l2"
)


def features(texts: Sequence[str], vectors: np.ndarray):
    """The model's input rows: [sentence embedding | hashed character n-grams]."""
    return sparse.hstack([sparse.csr_matrix(vectors), _CHAR_NGRAMS.transform(texts)]).tocsr()


def load_examples(path: Path | str) -> list[tuple[str, str]]:
    """Read a JSONL file of `{"text": ..., "intent": ...}` lines into (text, intent) pairs.

    Errors name the file and line number: the data is hand-edited, and a silent skip
    would quietly shrink a class.
    """
    path = Path(path)
    examples: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object")
            text, intent = row.get("text"), row.get("intent")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{where}: 'text' must be a non-empty string")
            if intent not in INTENTS:
                raise ValueError(
                    f"{where}: unknown intent {intent!r} (expected one of {', '.join(INTENTS)})"
                )
            examples.append((text.strip(), intent))
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def data_hash(path: Path | str, c: float = DEFAULT_C) -> str:
    """Fingerprint of the training data and recipe; a cached model is valid only for it."""
    digest = hashlib.sha256()
    digest.update(f"{_RECIPE_VERSION};C={c!r};".encode())
    digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _fit(vectors: np.ndarray, labels: Sequence[str], c: float):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(vectors, list(labels))
    return model


@dataclass
class IntentClassifier:
    """A trained classifier: coefficients, class names and the refusal threshold."""

    embeddings: Embeddings
    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, dim)
    intercept: np.ndarray  # (n_classes,)
    threshold: float = DEFAULT_THRESHOLD
    trained_on: str = ""  # data_hash of the training file, "" if trained from a list

    # --- training -------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        embeddings: Embeddings,
        examples: Sequence[tuple[str, str]],
        threshold: float = DEFAULT_THRESHOLD,
        c: float = DEFAULT_C,
        trained_on: str = "",
    ) -> IntentClassifier:
        """Embed the examples and fit a multinomial logistic regression."""
        if not examples:
            raise ValueError("no training examples")
        texts = [text for text, _ in examples]
        labels = [intent for _, intent in examples]
        vectors = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
        model = _fit(features(texts, vectors), labels, c)
        return cls(
            embeddings=embeddings,
            classes=tuple(str(x) for x in model.classes_),
            coef=model.coef_.astype(np.float32),
            intercept=model.intercept_.astype(np.float32),
            threshold=threshold,
            trained_on=trained_on,
        )

    # --- prediction -----------------------------------------------------------------

    @cached_property
    def _weights_digest(self) -> str:
        digest = hashlib.sha256(self.coef.tobytes())
        digest.update(self.intercept.tobytes())
        digest.update("|".join(self.classes).encode())
        return digest.hexdigest()[:16]

    @property
    def version(self) -> str:
        """The weights and threshold: cached predictions are keyed by it."""
        return f"{self._weights_digest}:{self.threshold}"

    def probabilities(self, text: str) -> dict[str, float]:
        """Class probabilities for one message (useful for logging and debugging)."""
        probs = self._probs([text], np.asarray([self.embeddings.embed_query(text)]))[0]
        return {name: float(p) for name, p in zip(self.classes, probs)}

    def _probs(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return _softmax(np.asarray(features(texts, vectors) @ self.coef.T) + self.intercept)

    def _decide(self, probs: np.ndarray) -> tuple[str, float]:
        """A message that resembles no intent spreads its probability over several
        classes, so a low top probability is the signal to refuse rather than guess."""
        best = int(np.argmax(probs))
        confidence = float(probs[best])
        if confidence < self.threshold:
            return FALLBACK_INTENT, confidence
        return self.classes[best], confidence

    def predict(self, text: str) -> tuple[str, float]:
        """(intent, confidence in [0, 1]) for a customer message."""
        text = (text or "").strip()
        if not text:
            return FALLBACK_INTENT, 0.0
        vector = np.asarray([self.embeddings.embed_query(text)], dtype=np.float32)
        return self._decide(self._probs([text], vector)[0])

    def predict_many(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Batch version of `predict` (one embedding call), for evaluation."""
        texts = [t.strip() for t in texts]
        vectors = np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32)
        return [self._decide(row) for row in self._probs(texts, vectors)]

    # --- persistence ----------------------------------------------------------------

    def save(self, path: Path | str) -> None:
        """Write the model as a small `.npz` (atomically, so a crash never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle,
                    classes=np.array(self.classes, dtype=str),
                    coef=self.coef,
                    intercept=self.intercept,
                    threshold=np.array(self.threshold, dtype=np.float64),
                    trained_on=np.array(self.trained_on, dtype=str),
                )
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path | str, embeddings: Embeddings) -> IntentClassifier:
        """Read a model written by `save` (no pickle involved)."""
        with np.load(Path(path), allow_pickle=False) as data:
            return cls(
                embeddings=embeddings,
                classes=tuple(str(x) for x in data["classes"]),
                coef=data["coef"].astype(np.float32),
                intercept=data["intercept"].astype(np.float32),
                threshold=float(data["threshold"]),
                trained_on=str(data["trained_on"]),
            )

    @classmethod
    def load_or_train(
        cls,
        embeddings: Embeddings,
        cache_dir: Path | str,
        threshold: float = DEFAULT_THRESHOLD,
        train_path: Path | str = TRAIN_PATH,
    ) -> IntentClassifier:
        """Use the cached model if it was trained on the current data, else retrain and cache.

        Training takes a few seconds (embedding ~900 sentences), so the server caches the
        result; the hash check means editing train.jsonl is enough to get a fresh model.
        The threshold is a run-time setting, not part of training, so the caller's value
        always wins over the one stored in the file.
        """
        cache_path = Path(cache_dir) / CACHE_FILENAME
        current = data_hash(train_path)
        if cache_path.exists():
            try:
                cached = cls.load(cache_path, embeddings)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                cached = None  # unreadable cache: fall through and retrain
            if cached is not None and cached.trained_on == current:
                cached.threshold = threshold
                return cached
        model = cls.train(
            embeddings, load_examples(train_path), threshold=threshold, trained_on=current
        )
        model.save(cache_path)
        return model


# --- hyperparameter selection (train split only) -----------------------------------


def cross_validate(
    vectors: np.ndarray,
    labels: Sequence[str],
    c_values: Sequence[float] = (0.3, 1.0, 3.0, 10.0, 20.0, 30.0, 100.0),
    thresholds: Sequence[float] = tuple(round(x * 0.05, 2) for x in range(0, 15)),
    folds: int = 5,
    repeats: int = 3,
) -> dict[float, dict[float, float]]:
    """Out-of-fold accuracy for each (C, threshold): {C: {threshold: accuracy}}.

    Accuracy is averaged over `repeats` differently shuffled k-fold splits, because one
    split moves the figures by a few examples, as much as the differences between
    neighbouring settings. Used to choose DEFAULT_C and DEFAULT_THRESHOLD; pass
    train-split `features` rows only.
    """
    from sklearn.model_selection import StratifiedKFold

    labels_arr = np.asarray(labels)
    table: dict[float, dict[float, float]] = {}
    for c in c_values:
        scores = {t: 0.0 for t in thresholds}
        for seed in range(repeats):
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            top_prob = np.zeros(len(labels_arr))
            top_label = np.empty(len(labels_arr), dtype=object)
            for fit_idx, held_idx in splitter.split(vectors, labels_arr):
                model = _fit(vectors[fit_idx], labels_arr[fit_idx], c)
                probs = model.predict_proba(vectors[held_idx])
                top_prob[held_idx] = probs.max(axis=1)
                top_label[held_idx] = model.classes_[probs.argmax(axis=1)]
            for t in thresholds:
                predicted = np.where(top_prob < t, FALLBACK_INTENT, top_label)
                scores[t] += float(np.mean(predicted == labels_arr)) / repeats
        table[c] = scores
    return table


def choose_hyperparameters(
    table: dict[float, dict[float, float]], tolerance: float = 0.005
) -> tuple[float, float]:
    """Pick (C, threshold) from a `cross_validate` table.

    C: every C whose best accuracy is within `tolerance` of the overall best is as good
    as the data can tell; take the middle of that plateau (lower middle when even) so
    the choice does not flip with a one-example difference between folds.
    Threshold: the highest one within `tolerance` of that C's best accuracy, i.e. the
    most willing to refuse when unsure while costing almost nothing on known intents.
    """
    best = max(max(row.values()) for row in table.values())
    plateau = sorted(c for c, row in table.items() if max(row.values()) >= best - tolerance)
    c = plateau[(len(plateau) - 1) // 2]
    row = table[c]
    threshold = max(t for t, acc in row.items() if acc >= max(row.values()) - tolerance)
    return c, threshold
