# Two commands do everything on a fresh clone (they create .venv on first use):
#   make book   -- install, execute every chapter and render the book to _build/html
#   make test   -- install, run the unit tests and execute every chapter once (nbmake)
# Slow or special checks, not part of `make test`:
#   make fresh-venv-check -- install the package alone (declared dependencies only, no requirements.txt)
#                            into a temporary virtual environment, import every module, build small data
#   make gpu-check        -- on a CUDA machine (<= 8 min): unit tests on CUDA, paper-profile epochs,
#                            CPU vs CUDA agreement; without CUDA it says so and skips
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NBMAKE_ARGS ?=

.PHONY: book test install clean fresh-venv-check gpu-check

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# the GUI build of OpenCV (needs libGL) and the headless one share the cv2 folder: keep only the headless
	if $(PY) -m pip show -q opencv-python >/dev/null 2>&1; then \
		$(PY) -m pip uninstall -y -q opencv-python opencv-python-headless; fi
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

book: install
	$(VENV)/bin/jupyter-book build --all .

test: install
	$(PY) -m pytest tests
	$(PY) -m pytest --nbmake --nbmake-timeout=900 $(NBMAKE_ARGS) book

fresh-venv-check:
	$(PYTHON) tests/fresh_venv_check.py

gpu-check: install
	$(PY) tests/gpu_check.py

clean:
	rm -rf _build
