# briefcut: `make run` renders the example brief offline; `make test` runs the test suite.
# Both install what they need into .venv first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Where no CUDA GPU is present, install torch's CPU build first so the project's torch requirement
# is already met (TORCH_INDEX may point pip at a CPU wheel index: --index-url URL).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
BRIEF ?= briefs/spring-launch.yaml
OUT ?= out

.PHONY: install install-dev sysdeps run test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_INDEX) "$(TORCH)"
	$(PIP) install -q -e ".[ml]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[ml,dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# espeak-ng (voice-over) and Chromium (report tests) come from the system; installed where we are root.
sysdeps:
	@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null) || \
	  echo "note: espeak-ng not installed; voice-over is skipped (apt-get install espeak-ng)"; }

run: install
	$(VENV)/bin/briefcut run $(BRIEF) --out $(OUT)

test: install-dev sysdeps
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check agent generators evaluators tests bench

bench: install-dev
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .briefcut out
