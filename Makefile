# The two commands: `make demo` runs the whole system, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint sysdeps clean

demo: sysdeps $(STAMP)
	$(BIN)/python -m scripts.demo

# The default run leaves out the tests marked slow (minutes each: detector accuracy over hundreds of
# real photos and recordings, several center processes, long clips in the browser, a SeaweedFS
# cluster); `make test-slow` runs those, and CI runs both.
test: sysdeps $(STAMP) lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: sysdeps $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# Lint, format and types first: a new error fails the run before the long tests start.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

sysdeps:
	@PYTHON=$(PYTHON) bash scripts/sysdeps.sh

# The ONVIF camera simulator the tests talk to asks for the desktop OpenCV wheel, which would sit in
# the same cv2 folder as the headless one the product uses: it is installed without its dependencies.
ONVIF_SIMULATOR := ipycam==1.3.0

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps '$(ONVIF_SIMULATOR)'
	touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache
