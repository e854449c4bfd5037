# Two commands do all the set-up: `make run` (server on the default library) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-installed
ARGS ?=

.PHONY: run demo test bench clean

$(DEPS_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEPS_STAMP)

run: $(DEPS_STAMP)
	$(PY) standalone.py --data-dir data $(ARGS)

demo: $(DEPS_STAMP)
	$(PY) standalone.py --demo $(ARGS)

test: $(DEPS_STAMP)
	$(VENV)/bin/pytest --cov=py --cov-report=term-missing:skip-covered --cov-fail-under=90 $(ARGS)

bench: $(DEPS_STAMP)
	$(PY) benchmarks/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .coverage htmlcov
