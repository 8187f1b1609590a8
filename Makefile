# Every target works from a fresh clone: the virtualenv is created in .venv/ on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo ui test test-fast material lint clean-data

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The main job: demo data into the landing zone, then the whole asset graph once, in-process.
demo: $(STAMP)
	$(VENV)/bin/vision-assets demo

## The Dagster UI (webserver + daemon) on the same instance and data, sensors and automation on.
ui: $(STAMP)
	$(VENV)/bin/vision-assets ui

## Parallel pytest workers (pytest-xdist; 0 = one process). The session's trained world is built once and shared by
## every worker (conftest), so tests on it spread over the workers; worksteal rebalances uneven test lengths.
TEST_WORKERS ?= 2
FAST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

## The fast set (no end-to-end runs), for the edit-test loop, on two workers.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n $(FAST_WORKERS) --dist worksteal

## The third-party test material, fetched into ~/.cache/vision_assets/material (tests do it on first use).
material:
	python3 tests/material_fetch.py

lint: $(STAMP)
	$(VENV)/bin/ruff check vision_assets tests definitions.py

clean-data:
	rm -rf .data
