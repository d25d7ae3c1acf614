# TuneLab: `make demo` and `make test` set everything up themselves (a virtualenv in .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help venv demo test test-fast lint format bench-train bench-train-quick bench-infer bench-infer-quick bench-serve bench-serve-quick bench-monitor bench-monitor-quick bench-assistant bench-assistant-quick clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, exact pin: a looser one would fetch a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## Create .venv with pinned dependencies

demo: $(STAMP) ## Train an intent classifier on the bundled support tickets and answer sample questions
	$(VENV)/bin/tunelab demo --output runs/demo

test: $(STAMP) ## Run the whole test suite
	$(PY) -m pytest -q

test-fast: $(STAMP) ## Unit tests only (no bundled model, no shared data)
	$(PY) -m pytest -q -m "not integration"

lint: $(STAMP) ## ruff + import contracts
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Format the code
	$(VENV)/bin/ruff format src tests

bench-train: $(STAMP) ## Full training benchmark vs the HF Trainer (Banking77, CoNLL-2003; long)
	$(PY) benchmarks/bench_train.py --mode full

bench-train-quick: $(STAMP) ## Quick training benchmark on subsets
	$(PY) benchmarks/bench_train.py --mode quick

bench-serve: $(STAMP) ## Serving benchmark vs FastAPI+pipeline baseline (16 clients, 30 s each)
	$(PY) benchmarks/bench_serve.py

bench-serve-quick: $(STAMP) ## 10 s serving smoke run (not recorded)
	$(PY) benchmarks/bench_serve.py --quick

bench-infer: $(STAMP) ## Inference: pipeline vs TuneLab fp32/bf16/ONNX/int8/distilled/pruned; Banking77 + CoNLL (long)
	$(PY) benchmarks/bench_infer.py

bench-infer-quick: $(STAMP) ## Inference benchmark on training subsets (results/infer-quick.json only)
	$(PY) benchmarks/bench_infer.py --quick

bench-assistant: $(STAMP) ## Assistant benchmark: Banking77 unseen-intent hand-off (all training questions) + WikiQA MAP/MRR (long)
	$(PY) benchmarks/bench_assistant.py

bench-assistant-quick: $(STAMP) ## Assistant benchmark with 40 Banking77 questions per intent, 4 epochs
	$(PY) benchmarks/bench_assistant.py --quick

bench-monitor: $(STAMP) ## Monitor benchmark: Twitter financial sentiment accuracy/macro-F1 + burst replay (~10 min)
	$(PY) benchmarks/bench_monitor.py

bench-monitor-quick: $(STAMP) ## Monitor benchmark on a 2,000-headline training subset, 2 epochs
	$(PY) benchmarks/bench_monitor.py --quick

clean: ## Remove the virtualenv and build outputs
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
