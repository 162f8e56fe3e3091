"""The intent classifier's training and test data: valid lines, every intent covered,
no sentence in both splits. (The model itself: tests/integration/test_intent_classifier.py.)"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from tria_graph.adapters.intent_classifier import TEST_PATH, TRAIN_PATH, load_examples
from tria_graph.domain.intents import INTENTS


@pytest.fixture(scope="module")
def train_examples() -> list[tuple[str, str]]:
    return load_examples(TRAIN_PATH)


@pytest.fixture(scope="module")
def test_examples() -> list[tuple[str, str]]:
    return load_examples(TEST_PATH)


def test_load_examples_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"text": "hello", "intent": "greeting"}\n'
        '{"text": "where is my order", "intent": "order_status"}\n'
        '{"text": "oops", "intent": "greting"}\n'
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: unknown intent 'greting'"):
        load_examples(path)

    path.write_text('{"text": "hello", "intent": "greeting"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        load_examples(path)

    path.write_text('{"text": "  ", "intent": "greeting"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: 'text'"):
        load_examples(path)


def test_splits_cover_every_intent(train_examples, test_examples) -> None:
    for examples, minimum in ((train_examples, 80), (test_examples, 30)):
        counts = {intent: 0 for intent in INTENTS}
        for _, intent in examples:
            counts[intent] += 1
        assert all(n >= minimum for n in counts.values()), counts


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def test_train_and_test_do_not_overlap(train_examples, test_examples) -> None:
    train = {_norm(t) for t, _ in train_examples}
    test = [_norm(t) for t, _ in test_examples]
    assert not train & set(test), "identical texts in both splits"
    near = [
        (t, u)
        for t in test
        for u in train
        if SequenceMatcher(None, t, u).quick_ratio() >= 0.8
        and SequenceMatcher(None, t, u).ratio() >= 0.8
    ]
    assert not near, f"near-duplicates across splits: {near[:5]}"
