# sim2real developer entry points. `make demo` and `make test` set everything up on first use.
#
# Every recipe is POSIX sh. The virtual environment lives in .venv; a stamp file inside it
# depends on setup.py, so editing setup.py reinstalls and an unchanged tree is a no-op.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sim2real-installed
TORCH  := torch==2.13.0

# Keep ROS 2 discovery on loopback for every process the project starts (tests, benchmarks,
# demo), so nothing leaks onto the network; headless MuJoCo rendering uses EGL unless the
# caller chose another backend.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export MUJOCO_GL ?= egl

.PHONY: venv demo test bench lint clean distclean

venv: $(STAMP)

# torch goes in FIRST: pip's config here points at a local CPU wheel for torch==2.13.0, while
# installing anything that depends on torch before it makes pip fetch a multi-GB CUDA build.
$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e ".[all,dev]"
	touch $@

demo: $(STAMP)
	$(PY) -m sim2real doctor
	$(PY) -m sim2real demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

# Each bench/bench_*.py is a standalone script; the first one that fails stops the run.
bench: $(STAMP)
	@set -e; for script in bench/bench_*.py; do \
		if [ ! -e "$$script" ]; then echo "no benchmarks in bench/"; break; fi; \
		echo "== $$script"; \
		$(PY) "$$script"; \
	done

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy --strict hardware/

# Build outputs and caches; the virtual environment stays (see distclean).
clean:
	rm -rf build dist *.egg-info runs .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
