# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint fmt clean system-packages bench-transcription

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all,test]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m shared.cli dev

test: install system-packages
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

fmt: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf .data $(VENV)

# Debian packages the tests need (espeak-ng, ffmpeg, sox); installs only what is missing.
system-packages:
	@bash scripts/ensure-system-packages.sh

# Real-time factor and word error rate of the local transcription engine (numbers in docs/transcription.md).
bench-transcription: install system-packages
	$(BIN)/python bench/transcription.py
