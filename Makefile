# Every target bootstraps what it needs: a .venv rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo bench clean chaos

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "antsup needs Python 3.11+")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check antsup tests examples
	$(BIN)/ruff format --check antsup tests examples
	$(BIN)/mypy --strict antsup

# The chaos suite's long form (make test runs a short one): CHAOS_JOBS=200000 for the big run,
# CHAOS_SEED=<n> to replay a run.
chaos: $(STAMP)
	CHAOS_JOBS=$${CHAOS_JOBS:-20000} CHAOS_SECONDS=$${CHAOS_SECONDS:-60} \
	CHAOS_TREE_KILLS=$${CHAOS_TREE_KILLS:-3} $(BIN)/python -m pytest -q -s tests/chaos

# The benchmark suite (issue 5), side by side with Huey: BENCH_ARGS=--quick|--full|--smoke.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

demo: $(STAMP)
	$(BIN)/python -m examples.leads

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
