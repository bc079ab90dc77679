# `make run` and `make test` do all set-up themselves on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8080
WORKERS ?= 2
LINTED := app reports tests scripts config.py gunicorn.conf.py
ARGS ?=

.PHONY: install run run-replica test test-mongo test-compose lint bench bench-reports fuzz clean standin-venv \
	mongo-standin node-tools browser

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# The wire stand-in (scripts/standin: mongoeco as a one-member replica set) has its own venv on
# Python >= 3.13, found by scripts/standin/find-python, which says what is missing if none is.
STANDIN_VENV := .venv-standin
STANDIN_STAMP := $(STANDIN_VENV)/.installed-requirements
STANDIN_PORT ?= 27017
$(STANDIN_STAMP): scripts/standin/requirements.txt
	@python=$$(scripts/standin/find-python) || exit 2; \
	test -x $(STANDIN_VENV)/bin/python || $$python -m venv $(STANDIN_VENV)
	$(STANDIN_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r scripts/standin/requirements.txt
	touch $(STANDIN_STAMP)

standin-venv: $(STANDIN_STAMP)

# In the foreground until Ctrl-C; its one line of output is the URI to use as MONGO_URI.
mongo-standin: $(STANDIN_STAMP)
	@$(STANDIN_VENV)/bin/python -m scripts.standin --port $(STANDIN_PORT)

# mongosh, pinned in package.json and package-lock.json, in ./node_modules (never globally): the
# tests run scripts/audit.js in it (tests/audit/test_audit_mongosh.py). Without npm it says so and the
# test skips for want of Node.js.
NODE_STAMP := node_modules/.installed-package-lock
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: no mongosh, so tests/audit/test_audit_mongosh.py skips"; exit 0; }; \
	npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP)

node-tools: $(NODE_STAMP)

# Debian's chromium, which tests/console/test_console_browser.py drives through Playwright (pinned in
# requirements.txt) by executable_path: Playwright's own browser download is never used. Installed
# with apt-get when missing and we are root; otherwise this says so, and that test skips (it fails
# under CI=true). CHROMIUM names another binary (the test reads it from the environment too).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "browser: installing Debian's chromium for tests/console/test_console_browser.py"; \
		{ timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 \
			apt-get install -y -qq --no-install-recommends chromium; } >/dev/null 2>&1 || true; \
	fi; \
	if [ -x "$(CHROMIUM)" ]; then echo "browser: $$($(CHROMIUM) --version 2>/dev/null)"; \
	else echo "browser: no Chromium at $(CHROMIUM) and it could not be installed (needs root, apt-get and" \
		"Debian's mirror: run 'apt-get install chromium' as root, or set CHROMIUM);" \
		"tests/console/test_console_browser.py skips, and fails under CI=true"; fi

# The API. Worker class, deadlines, worker count and logging: gunicorn.conf.py, which the
# image's CMD reads too (embedded engine: one process, the data lives in it; with MONGO_URI:
# WORKERS processes). Without OPERATOR_TOKEN it generates one and prints it here.
# The embedded engine's data lives in the server, so its sweeper and its events dispatcher
# are threads there; with MONGO_URI they are their own processes (`flask --app app ledger
# sweep`, `flask --app app events dispatch`).
# `make bench` starts its servers with the same GUNICORN_ENV and GUNICORN_FLAGS.
GUNICORN_ENV = $(if $(MONGO_URI),,SWEEPER_THREAD=1 EVENTS_DISPATCHER_THREAD=1) WORKERS=$(WORKERS)
GUNICORN_FLAGS = --config gunicorn.conf.py
run: $(STAMP)
	$(GUNICORN_ENV) HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn $(GUNICORN_FLAGS) "app:create_app()"

# The services of docker-compose.yml as processes here, on the wire stand-in instead of mongo:
# init (db init), then the api (gunicorn, WORKERS processes), the sweeper and the dispatcher, each
# with the command and environment compose gives it (scripts/run_replica reads the compose file).
# Ctrl-C stops them all. The stand-in listens on STANDIN_PORT if set, else on a free port.
# exec: the supervisor is make's own child, so it learns of make's death (a SIGTERM to make alone).
run-replica: $(STAMP) $(STANDIN_STAMP)
	exec env HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m scripts.run_replica

lint: $(STAMP)
	$(BIN)/flake8 --max-line-length 110 $(LINTED)

# Both engines: the stand-in's conformance suite first (the suite on the stand-in counts only
# while it passes), then the whole suite with MONGO_URI naming a fresh stand-in (tests/support/wire_standin.py),
# so every test parametrised by engine runs on the embedded engine and on the wire protocol. The
# suite runs in TEST_SHARDS processes at once (default 2), each with its own stand-ins and every
# n-th test (tests/support/shards.py); TEST_SHARDS=1 runs it in one process.
PYTEST_ARGS ?=
test: lint browser $(STANDIN_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m standin tests/storage/test_standin_conformance.py
	$(BIN)/python -m tests.support.shards $(PYTEST_ARGS)

# The same suite plus the real-MongoDB tests; needs MONGO_URI naming a replica set
# (and MONGO_STANDALONE_URI for the standalone refusal). `make test-mongo PYTEST_ARGS="-m mongo"`
# runs only the tests marked mongo.
test-mongo: $(STAMP) $(NODE_STAMP)
	@test -n "$(MONGO_URI)" || { echo "set MONGO_URI to a replica set"; exit 2; }
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The whole suite in a container against the compose replica set (needs a Docker engine).
test-compose:
	docker compose build tests
	docker compose run --rm tests

# Transfers/s over HTTP vs in-process, latency, invariants (not part of `make test`).
bench: $(STAMP)
	$(GUNICORN_ENV) GUNICORN_FLAGS="$(GUNICORN_FLAGS)" $(BIN)/python scripts/loadtest.py $(ARGS)

# Statement speed and memory: builders alone at 10k/100k/1M rows, the endpoint on the
# embedded engine at 10k/100k rows. Takes a few minutes; prints a table.
bench-reports: $(STAMP)
	$(BIN)/python -m scripts.bench_reports

# The long fuzz: 1000 examples per operation and identity, 500 stateful scenarios (CI runs 50 and 100).
FUZZ_EXAMPLES ?= 1000
FUZZ_SCENARIOS ?= 500
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) $(BIN)/python -m pytest -q -p no:cacheprovider \
		--durations=5 tests/fuzz/test_fuzz.py tests/fuzz/test_fuzz_bodies.py

clean:
	rm -rf $(VENV) $(STANDIN_VENV) node_modules .pytest_cache
