# Two commands a user needs: `make run` (set-up + the demo campaign) and `make test` (set-up + tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: a CPU build of torch 2.13.0 (a bare 'torch' would pull a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/evonas run examples/demo.yaml --name demo-$$(date +%Y%m%d-%H%M%S)

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -x -p no:cacheprovider tests

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/compile_overhead.py
	$(BIN)/python bench/worker_scaling.py
	$(BIN)/python bench/nb201_regularized.py

clean:
	rm -rf $(VENV) build *.egg-info
