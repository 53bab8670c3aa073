# The README's commands. Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.segnas-installed

.PHONY: test test-slow search lint screenshot clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: a real search on the built-in data with the pretrained encoder and a teacher.
search: $(STAMP)
	$(VENV)/bin/segnas search $(SEARCH_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The README's dashboard picture, taken by the browser test (needs Debian's chromium).
screenshot: $(STAMP)
	SEGNAS_SCREENSHOT=1 $(PY) -m pytest -q tests/dashboard/test_browser.py -k screenshot

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis
