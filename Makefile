# Two commands set everything up: `make run` serves the monitor, `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-long install install-test lock lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Exactly the tested versions: every package pinned with its hashes in requirements.lock
# (the test tools and the load benchmark's locust too, so what runs is what was tested);
# `make lock` updates it.
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed
install-test: install

run: install
	$(BIN)/monitor db upgrade
	$(BIN)/monitor demo --if-empty
	-$(BIN)/monitor audit run   # so the demo opens with flags; the scheduler takes over nightly
	$(BIN)/monitor serve --host $(HOST) --port $(PORT)

# The long fault runs (marker `long`: SIGKILL, a PostgreSQL restart, races) are left
# out here and run by `make test-long`; .ci/run calls both. `make test` spreads the tests
# over one pytest-xdist worker per core (TEST_WORKERS=0 runs them in one process); the
# long runs time races and kill processes, so they run one at a time.
TEST_WORKERS ?= auto
test: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not long" -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-long: install-test
	$(BIN)/python -m pytest -m long $(PYTEST_ARGS)

lock: $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --upgrade --generate-hashes --extra test --extra load --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) instance .pytest_cache
