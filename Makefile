# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0          # the CPU build; install it first
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	mkdir -p out
	$(BIN)/stepvox respond examples/what_time_tokyo.wav -o out/reply.wav --thread demo --json | tee out/reply.json
	@echo "reply audio: out/reply.wav   transcript: out/reply.json   the command: .venv/bin/stepvox (or: source .venv/bin/activate)"

test: install
	bash scripts/install-test-deps.sh $(BIN)/python   # Debian chromium and postgresql for the browser and PostgreSQL tests
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) out .pytest_cache
