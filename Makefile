# Two commands for a fresh clone: `make run` starts the service, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run simulate test lint typecheck pytest bench bench-api bench-instances soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/raceday run $(ARGS)

simulate: $(STAMP)
	$(BIN)/raceday simulate $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/raceday

pytest: $(STAMP)
	$(BIN)/pytest $(ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/raceday bench pipeline $(ARGS)

bench-api: $(STAMP)
	$(BIN)/raceday bench api $(ARGS)

bench-instances: $(STAMP)
	$(BIN)/raceday bench instances $(ARGS)

# The soak that `make test` runs for 2 minutes, for 10 (SOAK_MINUTES=60 make soak: an hour).
soak: $(STAMP)
	SOAK_MINUTES=$${SOAK_MINUTES:-10} $(BIN)/pytest tests/reliability/test_soak.py $(ARGS)

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
