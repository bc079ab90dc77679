# `make run` and `make test` do all set-up themselves on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8080
THREADS ?= 8
LINTED := app reports tests scripts config.py
ARGS ?=

.PHONY: install run test test-mongo lint bench fuzz clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# The API on the embedded engine: one process (the data lives in it), several threads.
run: $(STAMP)
	$(BIN)/gunicorn --workers 1 --threads $(THREADS) --bind $(HOST):$(PORT) \
		--access-logfile - "app:create_app()"

lint: $(STAMP)
	$(BIN)/flake8 --max-line-length 110 $(LINTED)

test: lint
	$(BIN)/python -m pytest -q

# The same suite plus the real-MongoDB tests; needs MONGO_URI naming a replica set.
test-mongo: $(STAMP)
	@test -n "$(MONGO_URI)" || { echo "set MONGO_URI to a replica set"; exit 2; }
	$(BIN)/python -m pytest -q

# Transfers/s over HTTP vs in-process, latency, invariants (not part of `make test`).
bench: $(STAMP)
	$(BIN)/python scripts/loadtest.py $(ARGS)

# The long fuzz: 1000 examples per operation and identity, 500 stateful scenarios (CI runs 50 and 100).
FUZZ_EXAMPLES ?= 1000
FUZZ_SCENARIOS ?= 500
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) $(BIN)/python -m pytest -q -p no:cacheprovider \
		--durations=5 tests/test_fuzz.py tests/test_fuzz_bodies.py

clean:
	rm -rf $(VENV) .pytest_cache
