# omnitenant: `make demo` runs the sample site, `make test` runs ruff and the whole suite.
PYTHON ?= python3
VENV ?= .venv
# A pyenv shim may exist without a usable interpreter behind it: ask for one that runs.
PY312 ?= $(shell for p in $$HOME/.pyenv/versions/3.12*/bin/python3.12 $$(command -v python3.12); do \
	"$$p" -c '' 2>/dev/null && echo "$$p" && break; done)

.PHONY: help test test-py312 lint services

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]' 'Django>=5.2,<6'
	touch $@

.venv312/.installed: pyproject.toml
	$(PY312) -m venv .venv312
	.venv312/bin/pip install -q --upgrade pip
	.venv312/bin/pip install -q -e '.[dev]' 'Django>=6,<7'
	touch $@

services: ## Make sure PostgreSQL, Redis and memcached are reachable (starts memcached if needed)
	bash scripts/services.sh

lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint services ## ruff, then the whole suite on Python 3.11/Django 5.2 (and 3.12/Django 6 when present)
	$(VENV)/bin/pytest
	@if [ -n "$(PY312)" ]; then $(MAKE) --no-print-directory test-py312; \
	else echo "python3.12 not found: skipped the Python 3.12 / Django 6 run"; fi

test-py312: .venv312/.installed services ## The suite on Python 3.12 with Django 6.x
	.venv312/bin/pytest -q

# --- sample site -----------------------------------------------------------------------------
PORT ?= 8000

.PHONY: demo browser

demo: $(VENV)/.installed ## Run the sample site on SQLite at http://localhost:8000 (PORT=8001 make demo)
	cd sample_site && $(abspath $(VENV))/bin/python manage.py demo_setup
	@echo ""
	@echo "  public site  http://localhost:$(PORT)/   (tenants, Django admin at /admin/)"
	@echo "  acme         http://acme.localhost:$(PORT)/"
	@echo "  globex       http://globex.localhost:$(PORT)/"
	@echo ""
	cd sample_site && $(abspath $(VENV))/bin/python manage.py runserver 127.0.0.1:$(PORT)

browser: ## Make sure headless Chromium and chromedriver are installed (for the browser test)
	bash scripts/browser.sh

# The browser test needs Chromium: `make test` installs it first where it can.
test: browser
test-py312: browser
