# trunkline — the two set-up commands are `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit tools bench demo clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests drive (sipp as a real SIP peer, espeak-ng for real TTS
# audio); checked on every run, installed only when missing.
tools:
	command -v sipp >/dev/null && command -v espeak-ng >/dev/null && command -v baresip >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq sip-tester espeak-ng baresip)

run: $(STAMP)
	$(BIN)/trunkline serve --example

demo: $(STAMP)
	$(BIN)/trunkline demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy src/trunkline

unit: $(STAMP) tools
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
