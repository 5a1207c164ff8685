# The README's two commands: `make demo` (install, train on the embedded digits) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# the compiled loops (optimizers' updates, layers' elementwise passes): editing them re-runs the
# install, which rebuilds them
FUSED  := setup.py src/handgrad/_buffers.h $(wildcard src/handgrad/*/_fused.c src/handgrad/*/_fused_rules.h)
OLD_SO := rm -f src/handgrad/*/_fused*.so

.PHONY: demo test bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(FUSED) | $(BIN)/python
	$(OLD_SO)  # a failed (optional) build must not leave an old one
	$(BIN)/pip install --quiet -e '.[playground]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(FUSED) | $(BIN)/python
	$(OLD_SO)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/handgrad train

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.run

bench-quick: $(VENV)/.dev-installed
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) runs build *.egg-info
