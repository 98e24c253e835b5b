# The two commands: `make demo` runs the whole system, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test sysdeps clean

demo: sysdeps $(STAMP)
	$(BIN)/python -m scripts.demo

test: sysdeps $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

sysdeps:
	@PYTHON=$(PYTHON) bash scripts/sysdeps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache
