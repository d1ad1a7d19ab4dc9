# `make run` and `make test` are the only set-up a fresh machine needs (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_DPO_EMAIL ?= dpo@example.org

.PHONY: run test lint format translations venv bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

translations: $(BIN)/activate
	$(BIN)/python -m tools.i18n compile

run: $(VENV)/.installed-run translations
	$(BIN)/privacy-service keys generate --if-missing
	$(BIN)/privacy-service db upgrade
	$(BIN)/privacy-service users create-dpo $(DEMO_DPO_EMAIL) --demo
	$(BIN)/privacy-service serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev translations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
