# Every target sets up .venv (pinned requirements) first, so a fresh clone needs no other step.
#   make demo [TASKS="ner pos"] | test | lint
#   make train-<task> | evaluate-<task> | export-<task> | predict-<task> | bench-<task>
#   make bench-robustness [ARGS="--only configs,data,serving,kills --quick"]
#   make bench-speed [ARGS="--only cells,loop,beam,precision,serving,throughput --quick"]
# Variables: CONFIG=configs/x.yaml  DATA=sample|files|tfds  RUN=runs/<task>/<stamp>
#            SET="train.epochs=1 model.rnn.cell=gru"  SPLIT=test|validation
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
train_args = $(if $(CONFIG),--config $(CONFIG)) $(if $(DATA),--data $(DATA)) \
	$(if $(RUN),--run-dir $(RUN)) $(foreach s,$(SET),--set $(s))
run_args = $(if $(RUN),--run-dir $(RUN))

.PHONY: venv demo test lint format clean
.SECONDARY:

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) -m pipelines.demo $(TASKS)

test: venv
	$(PY) -m pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

train-%: venv
	$(PY) -m pipelines train $* $(train_args)

evaluate-%: venv
	$(PY) -m pipelines evaluate $* $(run_args) $(if $(SPLIT),--split $(SPLIT))

export-%: venv
	$(PY) -m pipelines export $* $(run_args)

predict-%: venv
	$(PY) -m pipelines predict $* $(run_args) $(ARGS)

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
