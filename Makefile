# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean

# The SNN libraries whose models and NIR files the tests compile and compare against. They declare GPU-stack
# dependencies (torchvision, torchaudio, samna, ...) that neither they nor snncompile need on CPU, so they are
# installed without them; the small packages they do import are in the dev extra.
PEERS := spikingjelly==2.0.0 snntorch==1.0.0 norse==1.1.0 sinabs==3.1.3 nirtorch==2.6

install: $(STAMP)

# torch is pinned exactly (a CPU wheel); lava-nc 0.10.0 and lava-dl 0.6.0 declare Python<3.11, so they are installed
# without their metadata checks after their real dependencies (all listed in pyproject.toml; lava-dl's torchvision is
# not needed). snncompile makes both import on 3.11 (backends/lava/compat.py).
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0
	$(BIN)/python -m pip install --quiet --no-deps $(PEERS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snncompile train --arch mlf_dsresnet14 --width 8 --levels 3 --T 4 --data digits --epochs 12 -o build/demo/model.pt --force
	$(BIN)/snncompile compile build/demo/model.pt --target numpy --calibrate 256 -o build/demo/model.numpy --force
	$(BIN)/snncompile simulate build/demo/model.numpy --data digits
	$(BIN)/snncompile compile build/demo/model.pt --target onnx --calibrate 256 -o build/demo/model.onnx --force
	$(BIN)/snncompile simulate build/demo/model.onnx --backend onnx --data digits
	$(BIN)/snncompile compile build/demo/model.pt --target lava --calibrate 256 -o build/demo/model.lava --force
	$(BIN)/snncompile simulate build/demo/model.lava --backend lava --data digits --limit 16
	$(BIN)/snncompile energy build/demo/model.numpy --data digits

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf build dist $(VENV) *.egg-info
