# make run    : install into .venv, then execute the notebook series on the bundled photos (runs/photos)
# make test   : unit tests, end-to-end runs, and nbval re-executing the stored notebooks
# make study  : the full protocol (study.yaml) on a Dask LocalCluster sized to this machine (runs/study); it starts
#               from a partial records/study (packed part-way), so a fresh clone trains only what it lacks
# make store  : pack the finished study into records/study and re-execute notebooks/ from those records
# make restore: re-execute notebooks/ from the records already stored (minutes; after a text or analysis change)
# make replicate : the study and its ratio sweep on the 15,000 photos the bundle does not hold, set beside the stored one
# make run ARGS="--data-root ~/data/dogs-vs-cats --out runs/kaggle -p epochs=10"

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
ARGS    ?=
RUN     ?= notebooks
BLOG    ?= blog
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install run test study pack store restore replicate lab publish benchmark clean clean-cache

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

run: install
	$(BIN)/python run_series.py $(ARGS)

test: install
	$(BIN)/python -m pytest $(ARGS)

STORE   := records/study

study: install  ## the full protocol; --resume continues a study that was stopped, --reuse-records one stored part-way
	$(BIN)/python run_series.py --config study.yaml --out runs/study --workers $(WORKERS) --resume \
	  $(if $(wildcard $(STORE)/index.json),--reuse-records $(STORE)) $(ARGS)

pack: install  ## the study's records so far into records/study (commit them: a fresh clone then resumes from them)
	$(BIN)/python run_series.py --pack runs/study

store: install  ## the finished study's records into records/study, and notebooks/ re-executed from them
	$(BIN)/python run_series.py --store runs/study

restore: install  ## notebooks/ re-executed from the records already in records/study (after a text or analysis change)
	$(BIN)/python run_series.py --store runs/stored/study

DISJOINT := records/disjoint-study

replicate: install  ## the study and its ratio sweep on 15,000 other photos (hours; resumable), then both runs' verdicts side by side
	test -d data/disjoint || $(BIN)/python data_tools.py disjoint-set ../shared/data/cats-vs-dogs-96px data/disjoint
	$(BIN)/python run_series.py --config study.yaml --data-root data/disjoint --out runs/disjoint-study --workers $(WORKERS) \
	  --resume -p "data_sizes=[1000, 1500]" $(if $(wildcard $(DISJOINT)/index.json),--reuse-records $(DISJOINT)) $(ARGS)
	$(BIN)/python benchmarks/replication.py runs/stored/study runs/disjoint-study --json runs/replication.json
	$(BIN)/python benchmarks/replication.py runs/stored/study runs/disjoint-study --sweep --json runs/replication-sweep.json

publish: install  ## the stored notebooks as posts; make publish RUN=runs/study BLOG=~/my-blog for a run of your own
	$(BIN)/python publish.py $(RUN) --blog $(BLOG) $(ARGS)

benchmark: install  ## trainings per hour in a kernel and on 1 and 2 Dask workers, and the cost of one training
	$(BIN)/python benchmarks/study_throughput.py $(ARGS)

lab: install
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf runs data/demo data/cats-vs-dogs-64px

clean-cache:  ## remove the decoded-image cache (data/cache, or $$UNBALANCED_IMAGE_CACHE)
	$(BIN)/python data_tools.py cache --clear
