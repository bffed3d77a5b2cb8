# Quick start: `make demo` and `make test` on a fresh machine (Python 3.10+ on PATH as python3).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test lint format venv clean sysdeps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	# the phantom's real heart mesh: a local copy, else unpacked from the ansys-health-heart wheel
	$(PY) -m CardiacPlanningLib.phantom.assets
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the report needs: a CJK TrueType font to embed in PDFs, poppler (pdftotext,
# pdffonts, pdftoppm) and dicom3tools (dciodvfy); the browser review needs chromium (driven by
# Playwright in the browser tests) and EGL with Mesa's software renderer (offscreen VTK rendering
# without a GPU). Installed only when missing and running as root
# with apt-get; otherwise this prints what is missing (their tests are then skipped).
SYSDEPS_PKGS := fonts-wqy-zenhei poppler-utils dicom3tools chromium libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1

sysdeps:
	@missing=""; for p in $(SYSDEPS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "sysdeps: $(SYSDEPS_PKGS) present"; \
	elif [ "$$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "sysdeps: missing$$missing; install them (apt-get install$$missing) to enable the report checks"; \
	else (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing) \
	  || echo "sysdeps: could not install$$missing (offline?); the report checks that need them are skipped"; fi

demo: $(STAMP) sysdeps
	$(VENV)/bin/cardiac-planning demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint sysdeps
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
