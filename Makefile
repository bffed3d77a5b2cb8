# Quick start: `make demo` and `make test` on a fresh machine (Python 3.10+ on PATH as python3).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test lint format venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	# the phantom's real heart mesh: a local copy, else unpacked from the ansys-health-heart wheel
	$(PY) -m CardiacPlanningLib.phantom.assets
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cardiac-planning demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
