# Set-up and everyday commands. Every target creates or updates the local
# virtual environment .venv from setup.cfg and the pinned constraints.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
OUTPUT ?= results/demo

.PHONY: demo test docs bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,docs]'
	touch $(STAMP)

## demo: set up and run the main job, the flagship demo (writes $(OUTPUT)/reconstructions.png and metrics.json)
demo: $(STAMP)
	$(BIN)/odl-wasserstein demo --output $(OUTPUT)

## test: set up and run the test suite (unit tests, doctests, docs build)
test: $(STAMP)
	$(BIN)/python -m pytest

## docs: build the HTML documentation into doc/_build/html, warnings are errors
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html doc doc/_build/html

## bench: run the benchmarks (tables on stdout, JSON in benchmarks/results/)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_bridge.py
	$(BIN)/python benchmarks/bench_sinkhorn.py
	$(BIN)/python benchmarks/bench_lpd.py
	$(BIN)/python benchmarks/bench_penalty.py
	$(BIN)/python benchmarks/bench_cyclegan.py --threads 2
	$(BIN)/python benchmarks/bench_unpaired_mri.py --threads 2
	$(BIN)/python benchmarks/bench_priors.py --threads 1

clean:
	rm -rf doc/_build doc/auto_examples doc/api/generated doc/sg_execution_times.rst results benchmarks/results
