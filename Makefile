# The README's two commands: `make demo` (set up + train skills) and `make test` (set up + tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MPLBACKEND := Agg

.PHONY: demo test lint format bench chaos soak experiments clean

$(STAMP): requirements.txt requirements-dev.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(VENV)/.bench: $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

## Train the point-mass skills (Bernoulli embedding, any-of-four goals) through the ROS 2 graph
## (2 actors, each one process: compose:=true; replay recorder, learner), then evaluate them.
## Starts afresh in runs/demo.
demo: $(STAMP)
	rm -rf runs/demo
	$(VENV)/bin/skill-embedding launch train_sim actors:=2 compose:=true config:=reach_bernoulli.yaml run_dir:=runs/demo
	$(VENV)/bin/skill-embedding evaluate runs/demo

## The test suite (plus lint): two workers for everything but the multi-process ROS graphs
## (*_ros.py), which run one at a time: their emulators and gates keep real-time rates, and two at
## once on a 2-core machine missed them (a 500 Hz emulator at 188 Hz).
## Both parts run even when the first fails, and either failing fails the target.
test: $(STAMP) lint
	status=0; \
	$(PY) -m pytest -q -n 2 --durations=10 --ignore-glob='*_ros.py' test || status=1; \
	$(PY) -m pytest -q --durations=10 test/*_ros.py || status=1; \
	exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Speed figures under benchmarks/ (README numbers come from here).
bench: $(VENV)/.bench
	$(PY) benchmarks/bench_core.py --out benchmarks/results_core.json
	$(PY) benchmarks/bench_graph.py --out benchmarks/results_graph.json
	$(PY) benchmarks/bench_ingest.py --out benchmarks/results_ingest.json
	$(PY) benchmarks/bench_stops.py --out benchmarks/results_stops.json
	$(PY) benchmarks/bench_weights_broadcast.py --out benchmarks/results_weights_broadcast.json
	$(PY) benchmarks/bench_demo.py --out benchmarks/results_demo.json

## Kill every node type of a training graph 20 times at random moments (about 15 minutes);
## prints what did not survive and writes benchmarks/results_chaos.json.
chaos: $(STAMP)
	$(PY) scripts/chaos.py --kills 20 --out benchmarks/results_chaos.json

## Four actors training for an hour: RSS growth per node, lost episodes, log lines per minute;
## writes benchmarks/results_soak.json.
soak: $(STAMP)
	$(PY) scripts/soak.py --minutes 60 --actors 4 --out benchmarks/results_soak.json

## The didactic experiment behind results/ (tens of minutes on 2 cores).
experiments: $(STAMP)
	$(PY) scripts/run_experiments.py --out results

clean:
	rm -rf runs build install log
