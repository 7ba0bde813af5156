# Two entry points, each creating the venv and installing first:
#   make demo   audit the embedded demo account (exit 1 there means "findings", which the demo has)
#   make test   lint, type-check and run the project's own tests
# and, not part of `make test` (slow: minutes), the mutation score of the code that decides outcomes:
#   make mutation [MUTATION_ARGS='--file rules/test_s3.py']   (tests/mutation/README.md)
#   make fuzz     the property-based tests with many more examples than CI runs
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test lint check fuzz mutation

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,demo,bench]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/pytest --aws-account demo || test $$? -eq 1

lint: install
	$(BIN)/ruff check ams_iam_audit rules tests bench
	$(BIN)/ruff format --check ams_iam_audit rules tests bench
	$(BIN)/mypy

check: install
	$(BIN)/pytest tests -n 2

test: lint check

mutation: install
	$(BIN)/python tests/mutation/mutate.py $(MUTATION_ARGS)

# the property-based tests with 20,000 examples each instead of CI's 150 (not part of `make test`)
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests -m fuzz -q
