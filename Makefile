# The two quick-start commands: `make plan` (offline: validate, render, explain every stack) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install plan test lint unit bench gateway-bench demo constraints gateway-requirements bot-requirements clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip==26.3'
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

plan: $(STAMP)
	$(BIN)/llmstack plan

test: $(STAMP) lint
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check infra tests bench services
	$(BIN)/ruff format --check infra tests bench services
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/check_speed.py

gateway-bench: $(STAMP)
	$(BIN)/python bench/gateway_bench.py

# the gateway image's hash-pinned requirements, resolved against constraints.txt (needs pip-tools)
gateway-requirements: $(STAMP)
	$(BIN)/python -m pip install --quiet 'pip-tools==7.6.2'
	cd services/litellm-gateway && ../../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url \
	  --no-emit-find-links --no-emit-trusted-host --strip-extras --allow-unsafe -c ../../constraints.txt \
	  -o requirements.txt requirements.in

constraints: $(STAMP)
	{ echo "# Exact versions of the whole dependency tree (pip freeze), so a fresh machine installs what CI tested."; \
	  echo "# Regenerate with: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^llmstack'; } > constraints.txt

bot-requirements: $(STAMP)
	$(BIN)/python -m pip install --quiet 'pip-tools==7.6.2'
	cd services/telegram-bot && ../../$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url \
	  --no-emit-find-links --no-emit-trusted-host --strip-extras --allow-unsafe -c ../../constraints.txt \
	  -o requirements.txt requirements.in

# simulator, gateway and bot on 127.0.0.1, a scripted conversation through the webhook, what happened
demo: $(STAMP)
	$(BIN)/python -m infra.demo

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
