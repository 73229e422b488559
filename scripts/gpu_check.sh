#!/bin/bash
# The checks that need a GPU, as one short run (about 5 minutes on an H200): the CUDA tests, the
# benchmark of the engine on CUDA, then what a sweep costs there. The results/gpu/ figures that
# README quotes came from this script.
#
#     MNIST_DATA=../shared/data bash scripts/gpu_check.sh [OUT]     (OUT: default results/gpu)
#
# Without an installed package it runs the checkout itself (PYTHONPATH), with the machine's own
# PyTorch. Each step is bounded, so that what finished is kept when a later step runs out of time.
set -u
out=${1:+$(realpath -m "$1")}  # as given, from where the script was called
cd "$(dirname "$0")/.."
out=${out:-results/gpu}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
"$python" - <<'CHECK' || exit 2
import sys
try:
    import torch
except ImportError:
    sys.exit("error: PyTorch is not installed for this python; set PYTHON to one that has it")
if not torch.cuda.is_available():
    sys.exit("error: no CUDA device here; run this script on a machine with a GPU")
print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())
CHECK
mkdir -p "$out"
timeout 150 "$python" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py tests/test_engine.py \
    tests/test_metrics.py 2>&1 | tee "$out/tests.log"
timeout 130 "$python" scripts/bench.py --device cuda --networks 1 10 100 1000 --repeat 2 \
    --json "$out/bench.json"
timeout 250 "$python" scripts/bench.py --device cuda --networks 1 --repeat 2 --costs \
    --json "$out/costs.json"
