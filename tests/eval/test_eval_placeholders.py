"""The datasets' placeholders ({order@OUT-002}...) resolve in the seeded database."""

from __future__ import annotations

from eval.database import PLACEHOLDER, open_engine, resolve
from eval.schema import case_messages, load_datasets
from eval.suite import dataset_files

CASES = load_datasets(dataset_files())


def test_placeholders_resolve_in_the_seeded_database(seeded_var):
    engine = open_engine(f"sqlite:///{seeded_var / 'tria.db'}")
    try:
        used = 0
        for c in CASES:
            for message in case_messages(c.case):
                if PLACEHOLDER.search(message):
                    used += 1
                    value = resolve(message, engine, c.case.customer)
                    assert "{" not in value, (c.id, value)
        assert used >= 10
    finally:
        engine.dispose()
