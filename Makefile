# adpilot: `make run` starts the platform with its simulator, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

# The parts built with Node.js: the typed client, the API reference's Swagger UI (copied
# from the client's swagger-ui-dist package) and the dashboard, which the gateway serves.
NPM_CI  := npm ci --no-audit --no-fund
CLIENT  := clients/typescript
CLIENT_DEPS := $(CLIENT)/node_modules/.package-lock.json
DOCS_UI := services/gateway/docs/swagger-ui/swagger-ui-bundle.js
DASHBOARD := web/dist/index.html
# The dashboard is rebuilt when anything it is built from is newer than its build.
DASHBOARD_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	$(wildcard web/index.html web/package.json web/package-lock.json web/vite.config.ts \
	web/tsconfig.json $(CLIENT)/src/*.ts)
HAVE_NPM := $(shell command -v npm >/dev/null 2>&1 && echo yes)
NEED_NPM := @command -v npm >/dev/null || { echo "Node.js 20+ and npm are needed for this (e.g. apt-get install nodejs npm)"; exit 1; }
HAVE_WEB := $(wildcard web/package.json)

.PHONY: install run test test-unit lint format bench clean client docs web front-end no-npm

# uv installs the same pinned packages as pip in a fraction of the time (about 30 s against
# two minutes into a new venv here); where uv cannot be had, pip does it.
UV_VERSION := 0.13.10

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	{ $(BIN)/python -m pip install --quiet uv==$(UV_VERSION) \
		&& $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'; } \
	|| { $(BIN)/python -m pip install --quiet --upgrade pip \
		&& $(BIN)/python -m pip install --quiet -e '.[dev]'; }
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# npm ci rewrites node_modules/.package-lock.json, so each lockfile installs once per change.
$(CLIENT_DEPS): $(CLIENT)/package-lock.json
	$(NEED_NPM)
	cd $(CLIENT) && $(NPM_CI)

$(DOCS_UI): $(CLIENT_DEPS)
	cd $(CLIENT) && npm run --silent docs

web/node_modules/.package-lock.json: web/package-lock.json
	$(NEED_NPM)
	cd web && $(NPM_CI)

$(DASHBOARD): web/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	cd web && npm run build

# The API reference at /docs.
docs: $(DOCS_UI)

# The dashboard at /, built afresh.
web:
	@test -f web/package.json || { echo "web/package.json does not exist: no dashboard to build"; exit 1; }
	cd web && $(NPM_CI) && npm run build

# Whatever the gateway serves besides the API, rebuilt where out of date.
ifeq ($(HAVE_NPM),yes)
front-end: docs $(if $(HAVE_WEB),$(DASHBOARD))
else
front-end: no-npm
endif

no-npm:
	@echo "npm is not installed: / and /docs will say so. Install Node.js 20+ and npm, then run make web docs."

# The client's types from the contracts: openapi.json, then src/schema.ts and src/operations.ts.
client: install $(CLIENT_DEPS)
	$(BIN)/python $(CLIENT)/scripts/openapi.py
	cd $(CLIENT) && npm run --silent generate

run: install front-end
	$(BIN)/adpilot up

# The browser tests need the dashboard and the reference built; the client's tests need Node.
# Tests marked `quiet` time a recovery: they run alone, once the parallel run is done.
test: install $(CLIENT_DEPS) docs $(if $(HAVE_WEB),$(DASHBOARD))
	$(BIN)/pytest -n 3 -m "not quiet"
	$(BIN)/pytest -n 0 -m quiet

# Unit and integration tests on the real servers: no platform processes, no browser.
.PHONY: test-fast
test-fast: install
	$(BIN)/pytest -n 3 tests/unit tests/integration

test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services adpilot sandbox

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/quality.py --seed 7

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
	rm -rf $(CLIENT)/node_modules $(CLIENT)/dist $(dir $(DOCS_UI)) web/node_modules web/dist
