# The targets the README names. Everything runs from a project-local virtualenv.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test test-fast lint typecheck install clean bench

$(VENV)/.installed: pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c requirements.lock -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install  ## start avtomat on its embedded runtime with the demo blueprint
	$(VENV)/bin/avtomat up

test: install  ## lint, check the layers, type-check and run the whole test suite
	$(VENV)/bin/ruff check engine actors transport blueprints tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest

test-fast: install  ## the same checks, and every test but the end-to-end ones (no processes started)
	$(VENV)/bin/ruff check engine actors transport blueprints tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -m pytest -m "not e2e"

lint: install
	$(VENV)/bin/ruff check engine actors transport blueprints tests bench

typecheck: install
	$(VENV)/bin/mypy

bench: install  ## the benchmark suite (bench/); BENCH_ARGS="--repeat 5 --jobs chain=20000" to scale up
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
