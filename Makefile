# Two commands from a fresh clone:  `make demo` (set up + run the quickstart)  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.sea-installed

.PHONY: install demo test test-all lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the pinned CPU wheel; a bare 'torch' would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/sea run configs/quickstart.yaml

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

lint: install
	$(VENV)/bin/ruff check sea data_prep export tests benchmarks notebooks

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs demo_run .pytest_cache
