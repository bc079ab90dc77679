# `make run` and `make test` do all set-up themselves on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8080
THREADS ?= 8
LINTED := app reports scripts tests config.py

.PHONY: install run test test-mongo lint bench-reports clean

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

# Statement speed and memory: builders alone at 10k/100k/1M rows, the endpoint on the
# embedded engine at 10k/100k rows. Takes a few minutes; prints a table.
bench-reports: $(STAMP)
	$(BIN)/python -m scripts.bench_reports

clean:
	rm -rf $(VENV) .pytest_cache
