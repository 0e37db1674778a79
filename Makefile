# The README's two commands: `make demo` (set up + train skills) and `make test` (set up + tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MPLBACKEND := Agg

.PHONY: demo test lint format bench experiments clean

$(STAMP): requirements.txt requirements-dev.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(VENV)/.bench: $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

## Train the point-mass skills (Bernoulli embedding, any-of-four goals) and evaluate them.
demo: $(STAMP)
	$(VENV)/bin/skill-embedding train --config reach_bernoulli.yaml --out runs/demo

## The test suite (plus lint).
test: $(STAMP) lint
	$(PY) -m pytest -q test

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Speed figures under benchmarks/ (README numbers come from here).
bench: $(VENV)/.bench
	$(PY) benchmarks/bench_core.py --out benchmarks/results_core.json

## The didactic experiment behind results/ (tens of minutes on 2 cores).
experiments: $(STAMP)
	$(PY) scripts/run_experiments.py --out results

clean:
	rm -rf runs build install log
