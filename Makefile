# Two entry points that set everything up on a fresh machine:
#   make demo   create .venv, install, run the annual update on examples/ (offline, a minute on 2 cores)
#   make test   create .venv, install with the dev extras, run the tests (slow and gpu tests excluded)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := examples/out

.PHONY: demo test test-slow lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The annual update of the example region in one command: simulate (stands in for download),
# preprocess, predict, vectorize, the inventory update against the scene's 2006 inventory, its changes
# and the report, into the workspace $(DEMO). A second `make demo` finds every stage up to date.
demo: $(STAMP)
	$(BIN)/glaciermap -w $(DEMO) run --region example --year 2016 --source simulate --device cpu
	@echo "demo workspace $(DEMO)/: raw/ (simulated HyP3 products + truth), stacks/, predictions/ (probability.tif, mask.tif, outlines.gpkg), inventory/example/2016/ (glaciers.gpkg, changes.gpkg, summary.json, report.html, item.json)"

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/vectorize.py

clean:
	rm -rf $(DEMO) bench/out .pytest_cache .ruff_cache .mypy_cache
