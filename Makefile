# Two commands do everything on a fresh clone (they create .venv on first use):
#   make book   -- install, execute every chapter and render the book to _build/html
#   make test   -- install, run the unit tests and execute every chapter once (nbmake)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NBMAKE_ARGS ?=

.PHONY: book test install clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

book: install
	$(VENV)/bin/jupyter-book build --all .

test: install
	$(PY) -m pytest tests
	$(PY) -m pytest --nbmake --nbmake-timeout=900 $(NBMAKE_ARGS) book

clean:
	rm -rf _build
