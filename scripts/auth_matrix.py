"""The routes x credentials matrix of docs/security.md, observed on the live app.

Runs the authorization matrix test (tests/integration/test_auth_http.py: the app under
TestClient on a seeded VAR_DIR, every route with each kind of credentials), takes the
statuses it saw, and writes them as the table between the auth-matrix markers of
docs/security.md (`--check`: only compare). The test asserts the same statuses (MATRIX)
and that the docs show them, so the three cannot drift apart.

    python scripts/auth_matrix.py            # run, print, update docs/security.md
    python scripts/auth_matrix.py --check    # run, print, fail if the docs differ
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="do not write docs/security.md; fail if it differs")
    args = parser.parse_args()

    code = pytest.main(["-q", "-p", "no:cacheprovider", "-k", "test_authorization_matrix",
                        str(ROOT / "tests/integration/test_auth_http.py")])
    from tests.integration import test_auth_http as matrix_test

    observed = {who: tuple(matrix_test.OBSERVED.get(who, {}).get(route, 0) for route in matrix_test.ROUTES)
                for who in matrix_test.MATRIX}
    table = matrix_test.matrix_table(observed)
    print(table)
    if code != 0:
        print("the matrix test failed: the observed statuses differ from MATRIX (0: not reached)", file=sys.stderr)
        return int(code)
    docs = matrix_test.DOCS
    text = docs.read_text(encoding="utf-8")
    head, rest = text.split(matrix_test.BEGIN, 1)
    _, tail = rest.split(matrix_test.END, 1)
    updated = f"{head}{matrix_test.BEGIN}\n{table}\n{matrix_test.END}{tail}"
    if args.check:
        if updated != text:
            print("docs/security.md differs from the observed matrix", file=sys.stderr)
            return 1
        return 0
    docs.write_text(updated, encoding="utf-8")
    print(f"wrote {docs.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
