# Two commands do all the set-up: `make run` (server on the default library) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-installed
ARGS ?=

.PHONY: run demo test bench mutants clean browser

# Browser tests drive Debian's Chromium; as root it is installed when missing, otherwise they are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: browser tests will be skipped (sudo apt-get install chromium)"; fi; }

$(DEPS_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEPS_STAMP)

run: $(DEPS_STAMP)
	$(PY) standalone.py --data-dir data $(ARGS)

demo: $(DEPS_STAMP)
	$(PY) standalone.py --demo $(ARGS)

# The suite runs on $(WORKERS) workers, one file per worker at a time (module-scoped servers are set up once).
# Each worker runs `python -P`, so the working directory is not put on sys.path: there the repo's `py/`
# package would hide the `py` module pytest itself imports.
WORKERS ?= 2
test: $(DEPS_STAMP) browser
	$(VENV)/bin/pytest --dist loadfile --tx "$(WORKERS)*popen//python=$(abspath $(PY)) -P" --cov=py --cov-report=term-missing:skip-covered --cov-fail-under=90 $(ARGS)

bench: $(DEPS_STAMP)
	for bench in benchmarks/bench_*.py; do $(PY) $$bench $(ARGS) || exit 1; done

# Mutation testing with mutmut (not in CI: hours on 2 cores). Narrow it with MUTATE="py/library/query.py"
# TESTS="tests/unit"; it prints the mutants that survived and the score.
mutants: $(DEPS_STAMP)
	MUTATE="$(MUTATE)" TESTS="$(TESTS)" bash tests/mutants.sh

clean:
	rm -rf $(VENV) .pytest_cache .coverage htmlcov .mutants
