# postbay: the two commands a newcomer needs.
#   make run   set up .venv and start postbay's main job on its embedded defaults
#   make test  set up .venv with the dev extras, lint (ruff), type-check (mypy), run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.postbay-installed
RUN_STAMP := $(VENV)/.postbay-run-installed

.PHONY: run test test-all lint typecheck bench venv clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Debian packages the tests use (speech for captions, a browser for the dashboard, fonts for burn-in).
SYSTEM_PACKAGES ?= espeak-ng fonts-dejavu-core chromium

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Installs what is missing, where we may (root with apt); otherwise the tests that need it say so.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing system packages:$$missing (tests that need them will skip with a reason)"; fi; \
	fi

# running needs postbay's own dependencies only, not the test extras
$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $(RUN_STAMP)

venv: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/postbay start

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy must see the installed layout (processors/ is postbay.processors, and so on), which only
# pyproject.toml's package-dir knows: build/typecheck/ mirrors it with links to the source files.
define LINK_TREE
import os, tomllib
with open("pyproject.toml", "rb") as f:
    package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
for package, folder in package_dir.items():
    target = os.path.join("build", "typecheck", *package.split("."))
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(folder):
        if name != "__pycache__" and not os.path.exists(os.path.join(target, name)):
            os.symlink(os.path.abspath(os.path.join(folder, name)), os.path.join(target, name))
endef
export LINK_TREE

typecheck: $(STAMP)
	rm -rf build/typecheck
	$(BIN)/python -c "$$LINK_TREE"
	$(BIN)/mypy

test: $(STAMP) system-deps lint typecheck
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m 'not gpu'

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) build *.egg-info
