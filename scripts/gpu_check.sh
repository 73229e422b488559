#!/bin/bash
# The checks that need a GPU, as one run of under 6 minutes: the CUDA tests (the engine's fused
# kernel and its CUDA graphs against the tensor operations, the captured reference step against
# the eager one, and every --device cuda command), the benchmark on CUDA (CUDA graphs and the
# fused kernel, K = 1, 10, 100, 1000, l = 30 and 100), the default 30-epoch run with the engine
# and with the reference loop, then the lab's CUDA tests and torchrun on the GPU. The
# results/gpu/ figures that README quotes come from this script (and what a sweep costs there
# from `scripts/bench.py --device cuda --networks 1 --repeat 2 --costs --json
# results/gpu/costs.json`, which runs the whole reproduction and is left out here for time).
#
#     MNIST_DATA=../shared/data bash scripts/gpu_check.sh [OUT]     (OUT: default results/gpu)
#
# On a machine that receives only the checkout, copy the digits into it first (data/ is ignored
# by git): `mkdir -p data && cp -r ../shared/data/MNIST data/`, send data/ along (53 MB, kept
# uncompressed: the benchmark's naive loop reads the raw files) and run with MNIST_DATA=data.
#
# Without an installed package it runs the checkout itself (PYTHONPATH), with the machine's own
# PyTorch. Each step is bounded in time (the bounds add up to 345 s), so that what finished is
# kept when a later step runs out of time; OUT/steps.txt says how each step ended (124: cut at
# its bound, its log holds what it did until then; pytest, cut, still prints its summary;
# 137: it ignored the interrupt and was killed 10 s later; the benchmark's JSON keeps each row
# as it comes).
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
try:
    import cuda.bindings
    print("cuda.bindings", cuda.bindings.__version__)
except ImportError:
    print("note: cuda.bindings is not installed for this python, so the engine's fused kernel "
          "cannot be built: its tests are skipped and the benchmark has no engine-fused rows "
          "(pip install cuda-bindings)")
from mnist_mlp.engine.fused import device
print("fused kernel:", device.describe(torch.cuda.current_device()))
CHECK
data=${MNIST_DATA:-data}
[ -d "$data/MNIST/raw" ] || echo "note: no MNIST digits in $data/MNIST/raw: the benchmark and" \
    "the runs will stop at once (set MNIST_DATA to the folder holding MNIST/raw); the tests" \
    "make their own digits"
mkdir -p "$out"
: > "$out/steps.txt"
step() {  # step NAME SECONDS LOG COMMAND…: run COMMAND bounded, its output also into LOG
    local name=$1 seconds=$2 log=$3
    shift 3
    echo "== $name (at most $seconds s)"
    timeout -s INT -k 10 "$seconds" "$@" 2>&1 | tee "$log"
    echo "$name: exit ${PIPESTATUS[0]}" | tee -a "$out/steps.txt"
}
pytest=("$python" -m pytest -q -p no:cacheprovider -rs --durations=8)
step tests 100 "$out/tests.log" "${pytest[@]}" tests/test_cuda.py
step bench 125 "$out/bench.log" "$python" scripts/bench.py --device cuda --hidden 30 100 \
    --networks 1 10 100 1000 --repeat 2 --json "$out/bench.json"
step train-fast 30 "$out/train-fast.txt" "$python" scripts/train.py --engine fast \
    --device cuda --log-dir ''
step train-reference 45 "$out/train-reference.txt" "$python" scripts/train.py \
    --device cuda --log-dir ''
step more-tests 45 "$out/more-tests.log" "${pytest[@]}" tests/lab/test_lab_cuda.py \
    tests/test_engine.py tests/test_metrics.py tests/test_fused.py tests/test_distributed.py \
    -k "cuda"
