# pnp-deblur: set-up, demo, tests, benchmarks and docs. Every target creates .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH  := out/bench
export PNP_DATA ?= $(abspath ../shared/data)

.PHONY: install demo test bench bench-scale docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,docs,bm3d]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pnp.demo --out out

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=10

# Reruns the main tables into out/bench/ (git-ignored), never over the documented docs/results/.
bench: $(STAMP)
	$(BIN)/python -m pytest -q -m slow
	mkdir -p $(BENCH)
	$(BIN)/python benchmarks/engine_acceptance.py --priors tv bm3d > $(BENCH)/engine_acceptance.md
	cat $(BENCH)/engine_acceptance.md
	$(BIN)/python benchmarks/dpir_levin.py --prior bm3d --out $(BENCH)
	$(BIN)/python benchmarks/dpir_levin.py --prior attention-unet --out $(BENCH)
	$(BIN)/python benchmarks/rotation.py --priors tv drunet --angles 10 --out $(BENCH)/rotation_10
	$(BIN)/python benchmarks/rotation.py --priors tv --angles 5 20 --out $(BENCH)/rotation_5_20
	$(BIN)/python benchmarks/rotation.py --timing --angles 10 --priors tv drunet bm3d --out $(BENCH)/rotation_timing
	$(BIN)/python benchmarks/levin_blind.py --images 01 02 03 04 05 06 07 --out $(BENCH)/levin_blind

bench-scale: $(STAMP)
	$(BIN)/python benchmarks/large_images.py scaling --sizes 512 1024 2048 4096 --iters 2 --weights priors/weights/drunet_small_color.pt
	$(BIN)/python benchmarks/large_images.py tiling --size 1024 --tile 256 --overlap 32 --iters 2 --weights priors/weights/drunet_small_color.pt
	$(BIN)/python benchmarks/batch_throughput.py --prior tv --frames 12 --size 128 --iters 4

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf docs/_build docs/auto_examples docs/gen_modules docs/sg_execution_times.rst out
