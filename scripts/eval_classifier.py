"""Evaluate the intent classifier: train on train.jsonl, score on the held-out test.jsonl.

    .venv/bin/python scripts/eval_classifier.py           # evaluate with the module defaults
    .venv/bin/python scripts/eval_classifier.py --tune    # also print the train-only CV table
    .venv/bin/python scripts/eval_classifier.py --threshold 0.45 --errors

The test split is only ever scored here; hyperparameters come from cross-validation on
the training split (--tune), never from these figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tria_graph.adapters.embeddings import LocalEmbeddings  # noqa: E402
from tria_graph.adapters.intent_classifier import (  # noqa: E402
    DEFAULT_C,
    DEFAULT_THRESHOLD,
    TEST_PATH,
    TRAIN_PATH,
    IntentClassifier,
    choose_hyperparameters,
    cross_validate,
    features,
    load_examples,
)
from tria_graph.domain.intents import INTENTS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--c", type=float, default=DEFAULT_C)
    parser.add_argument("--tune", action="store_true", help="print train-only CV table")
    parser.add_argument("--errors", action="store_true", help="list misclassified test texts")
    args = parser.parse_args()

    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

    train = load_examples(TRAIN_PATH)
    test = load_examples(TEST_PATH)
    print(f"train: {len(train)} examples, test: {len(test)} examples")

    embeddings = LocalEmbeddings()
    started = time.perf_counter()
    model = IntentClassifier.train(embeddings, train, threshold=args.threshold, c=args.c)
    print(f"trained in {time.perf_counter() - started:.1f}s (C={args.c}, threshold={args.threshold})")

    if args.tune:
        texts = [t for t, _ in train]
        vectors = np.asarray(embeddings.embed_documents(texts))
        table = cross_validate(features(texts, vectors), [i for _, i in train])
        thresholds = list(next(iter(table.values())))
        print("\n5-fold CV accuracy on TRAIN, mean of 3 shuffles (rows: C, columns: threshold)")
        print("C \\ t  " + " ".join(f"{t:5.2f}" for t in thresholds))
        for c, row in table.items():
            print(f"{c:6g} " + " ".join(f"{row[t]:5.3f}" for t in thresholds))
        best_c, best_t = choose_hyperparameters(table)
        print(f"chosen by CV: C={best_c:g}, threshold={best_t:.2f}\n")

    texts = [t for t, _ in test]
    gold = [i for _, i in test]
    predictions = model.predict_many(texts)
    predicted = [intent for intent, _ in predictions]

    accuracy = accuracy_score(gold, predicted)
    labels = list(INTENTS)
    oos_total = sum(g == "out_of_scope" for g in gold)
    oos_hit = sum(g == p == "out_of_scope" for g, p in zip(gold, predicted))

    print(f"\naccuracy: {accuracy:.3f}")
    print(f"out_of_scope recall: {oos_hit / oos_total:.3f} ({oos_hit}/{oos_total})")
    print("\n" + classification_report(gold, predicted, labels=labels, digits=3, zero_division=0))
    matrix = confusion_matrix(gold, predicted, labels=labels)
    short = [name[:8] for name in labels]
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * 16 + " ".join(f"{s:>8}" for s in short))
    for name, row in zip(labels, matrix):
        print(f"{name:>16}" + " ".join(f"{v:8d}" for v in row))

    if args.errors:
        print("\nmisclassified:")
        for (text, g), (p, conf) in zip(test, predictions):
            if g != p:
                print(f"  {g:>16} -> {p:<16} {conf:.2f}  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
