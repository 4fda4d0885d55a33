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

.PHONY: install install-dev sysdeps llama-server run test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_INDEX) "$(TORCH)"
	$(PIP) install -q -e ".[ml]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[ml,dev,ray,voice,studio,provenance]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# espeak-ng (voice-over), Chromium (report and studio browser tests; Playwright drives it, no browser download), fontconfig and the Noto fonts (text in every script:
# noto-core ~12 MB has Arabic, Hebrew, Devanagari, Thai and more; noto-cjk ~57 MB Chinese, Japanese, Korean;
# noto-color-emoji ~10 MB) come from the system; installed where we are root and apt-get exists.
SYSPKGS := espeak-ng chromium fc-match
FONTPKGS := fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji
sysdeps:
	@missing=""; for p in $(SYSPKGS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	missing=$$(echo "$$missing" | sed 's/fc-match/fontconfig/'); \
	if command -v dpkg >/dev/null; then \
	  for p in $(FONTPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || \
	      echo "note: could not install$$missing; the tests that need them are skipped"; \
	  else echo "note: missing$$missing (apt-get install$$missing); the tests that need them are skipped"; fi; \
	fi

# llama.cpp's llama-server for the LLM tests, built once from the llama-cpp-python sdist and
# cached in ~/.cache/briefcut-test/llama/ (about 6 minutes on 2 cores the first time).
llama-server: install-dev
	PYTHON=$(PY) bash tests/tools/build_llama_server.sh

run: install
	$(VENV)/bin/briefcut run $(BRIEF) --out $(OUT)

test: install-dev sysdeps llama-server
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check agent generators evaluators tests bench

bench: install-dev
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .briefcut out
