# Every target bootstraps what it needs: a .venv rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo bench clean

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

demo: $(STAMP)
	$(BIN)/python -m examples.leads

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
