# Every target sets up .venv (pinned requirements) first, so a fresh clone needs no other step.
#   make demo [TASKS="ner pos"] | test | test-browser | lint
#   make serve [RUN="runs/ner/<stamp> pos=runs/pos/<stamp>"] [PORT=8501] [HOST=0.0.0.0]
#   make train-<task> | evaluate-<task> | export-<task> | predict-<task> | bench-<task>
#   make bench-robustness [ARGS="--only configs,data,serving,kills --quick"]
#   make bench-speed [ARGS="--only cells,loop,beam,precision,serving,throughput --quick"]
# Variables: CONFIG=configs/x.yaml  DATA=sample|files|tfds  RUN=runs/<task>/<stamp>
#            SET="train.epochs=1 model.rnn.cell=gru"  SPLIT=test|validation
#            WORKERS=2  (train-<task>: N local processes, data-parallel on JAX)
#            FORMAT=savedmodel|onnx|tflite  (export-<task>)
#            ARGS='--prime "ROMEO:" --length 300'  (task options for predict-<task>)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
export TF_CPP_MIN_LOG_LEVEL ?= 2

CONFIG ?=
DATA ?=
RUN ?=
SET ?=
SPLIT ?=
ARGS ?=
WORKERS ?=
PORT ?= 8501
HOST ?=
train_args = $(if $(CONFIG),--config $(CONFIG)) $(if $(DATA),--data $(DATA)) \
	$(if $(RUN),--run-dir $(RUN)) $(foreach s,$(SET),--set $(s)) \
	$(if $(WORKERS),--workers $(WORKERS))
run_args = $(if $(RUN),--run-dir $(RUN))

.PHONY: venv demo test test-browser serve lint format clean
.SECONDARY:

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) -m pipelines.demo $(TASKS)

# Two processes, each running whole modules (their fixtures train once): ~half the time on
# 2 cores, since tracing and data preparation use one core each.
test: venv
	$(PY) -m pytest -n 2 --dist loadfile

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

train-%: venv
	$(PY) -m pipelines train $* $(train_args)

evaluate-%: venv
	$(PY) -m pipelines evaluate $* $(run_args) $(if $(SPLIT),--split $(SPLIT)) \
		$(if $(DATA),--data $(DATA)) $(foreach s,$(SET),--set $(s))

export-%: venv
	$(PY) -m pipelines export $* $(run_args) $(if $(FORMAT),--format $(FORMAT))

predict-%: venv
	$(PY) -m pipelines predict $* $(run_args) $(ARGS)

# Exported runs over HTTP (TF Serving's REST API and the web pages at /): RUN lists run
# directories, NAME=DIR to name one; no RUN serves the latest export of every task.
serve: venv
	$(PY) -m pipelines serve $(RUN) --port $(PORT) $(if $(HOST),--host $(HOST))

# The web pages in headless Chromium (Debian's chromium + chromium-driver, installed here if
# missing; needs root): tiny runs of every task, the real server, Selenium. Not in `make test`.
test-browser: venv
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update && apt-get install -y chromium chromium-driver)
	$(PY) -m pytest -p no:cacheprovider -m browser tests/browser

bench-%: venv
	$(PY) -m benchmarks.run $* $(foreach s,$(SET),--set $(s))

# An explicit rule, so it wins over bench-%: ARGS="--only configs,data --quick".
bench-robustness: venv
	$(PY) -m benchmarks.robustness $(ARGS)

# Also explicit: ARGS="--only serving,precision --quick".
bench-speed: venv
	$(PY) -m benchmarks.speed $(ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
