# Two entry points that set everything up on a fresh machine:
#   make demo   create .venv, install, run the pipeline on examples/ (offline, a few minutes on 2 cores)
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

# --overwrite: a second `make demo` replaces the first one's outputs (the stack is a cache: rebuilt
# only when the simulated products changed).
demo: $(STAMP)
	$(BIN)/glaciermap simulate --region example --year 2016 --seed 0 -o $(DEMO)/scene --overwrite
	$(BIN)/glaciermap preprocess $(DEMO)/scene -o $(DEMO)/stack --region example --year 2016 \
		--inventory $(DEMO)/scene/truth/outlines.gpkg
	$(BIN)/glaciermap predict unet3d --stack $(DEMO)/stack -o $(DEMO)/predict --device cpu --overwrite
	$(BIN)/glaciermap evaluate unet3d --stack $(DEMO)/stack --split all --acquisitions 15
	$(BIN)/glaciermap diff $(DEMO)/predict/outlines.gpkg $(DEMO)/scene/truth/inventory_2006.gpkg \
		--region example -o $(DEMO)/diff.gpkg --plot $(DEMO)/diff.png --overwrite
	@echo "demo outputs in $(DEMO)/: scene/ (HyP3 products + truth), stack/ (tile stacks + labels), predict/ (probability.tif, mask.tif, outlines.gpkg), diff.gpkg, diff.png"

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
