# make run   : install into .venv, then execute the notebook series on the demo data (runs/demo)
# make test  : unit tests, end-to-end notebook runs, and nbval checks of the stored notebooks
# make run ARGS="--data-root ~/data/dogs-vs-cats --out runs/kaggle -p epochs=10"

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=
RUN    ?= runs/demo
BLOG   ?= blog

.PHONY: install run test notebooks lab publish benchmark clean clean-cache

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

notebooks: install  ## re-execute notebooks/ in place with their default parameters
	$(BIN)/python run_series.py --store

publish: install  ## make publish RUN=runs/demo BLOG=~/my-blog
	$(BIN)/python publish.py $(RUN) --blog $(BLOG) $(ARGS)

benchmark: install  ## speed and memory against the original post's pipeline (about 20 minutes on 2 cores)
	$(BIN)/python benchmarks/benchmark.py $(ARGS)

lab: install
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf runs data/demo

clean-cache:  ## remove the decoded-image cache (data/cache, or $$UNBALANCED_IMAGE_CACHE)
	$(BIN)/python data_tools.py cache --clear
