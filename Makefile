# Two commands do all set-up (see README):  make run   and   make test
# Both create the virtual environment .venv from pyproject.toml first if it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
NBS    := $(sort $(wildcard notebooks/[0-9]*.ipynb))
BUILD  ?= build
# A cell may run long on a GPU with the real 7B (a 4096-token answer); on CPU they take seconds.
CELL_TIMEOUT ?= 1800

.PHONY: env run test chromium lab slides lint sync assets tiny clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[torch,dev]"
	touch $@

env: $(BIN)/.installed  ## create .venv with the pinned packages

run: env  ## execute every notebook top to bottom into build/ (.ipynb and .html)
	mkdir -p $(BUILD)/notebooks $(BUILD)/html
	$(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=$(CELL_TIMEOUT) \
		--output-dir $(BUILD)/notebooks $(NBS)
	$(BIN)/jupyter nbconvert --to html --CoalesceStreamsPreprocessor.enabled=True \
		--output-dir $(BUILD)/html $(BUILD)/notebooks/*.ipynb
	@echo "Executed notebooks: $(BUILD)/notebooks   HTML to open in a browser: $(BUILD)/html"

# The browser test drives JupyterLab in Debian's chromium (about 350 MB with its libraries). This step says what
# it does: it installs chromium only when it is missing and we are root (as on CI), never silently in a test.
chromium:  ## make sure Debian's chromium is there for the browser test (apt-get install as root when missing)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "chromium: found $$(command -v chromium || command -v chromium-browser)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: missing; installing Debian's chromium for the browser test (apt-get, about 350 MB)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "chromium: missing and not root; the browser test will be skipped (under CI it fails)."; \
		echo "          Install it with: sudo apt-get install chromium"; \
	fi

# The tests check the course's code on the tiny random model, on any machine: a GPU machine would otherwise load
# the real 7B in every notebook (`make run` is the way to run the real model). TEST_MODEL=... overrides it.
TEST_MODEL ?= tiny

test: env chromium  ## lint, unit tests (JupyterLab in headless Chromium included), every notebook under nbmake
	$(BIN)/ruff check .
	COSMOS_NB_MODEL=$(TEST_MODEL) $(BIN)/python -m pytest tests $(NBS) --nbmake --nbmake-timeout=600

lab: env  ## open JupyterLab on the notebooks
	$(BIN)/jupyter lab --allow-root notebooks  # --allow-root: containers and Colab-like machines run as root

slides: env  ## one reveal.js deck per notebook in build/slides
	$(BIN)/python scripts/build_slides.py $(BUILD)/slides

lint: env
	$(BIN)/ruff check .

sync: env  ## rewrite the Colab badge and install cell of every notebook from pyproject.toml
	$(BIN)/python scripts/sync_notebooks.py

assets: env  ## regenerate the synthetic clips in assets/
	$(BIN)/python scripts/make_assets.py assets

tiny: env  ## build the tiny random model into its cache folder
	$(BIN)/python -m cosmos_nb_utils.tiny_model

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
