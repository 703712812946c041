#!/usr/bin/env bash
# The one script a GPU session runs: build pycuda from the sdist carried in .whl/, run the
# CUDA tests on the real device, compare every op with the CPU backend and time GEMM, conv2d
# and a CNN epoch against PyTorch CUDA (bench/cuda.py). Logs go under the folder given.
#
#   bash bench/gpu_check.sh LOGDIR
#
# .whl/ (git-ignored) holds pycuda-*.tar.gz and the wheels it needs; fill it on a machine with
# a registry (see docs/cuda.md):
#   python3 -m pip download --no-deps --no-binary=pycuda -d .whl pycuda
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
#       pytools platformdirs mako markupsafe typing_extensions siphash24 hypothesis attrs \
#       sortedcontainers
set -u
LOG=${1:-gpu_logs}
mkdir -p "$LOG"
LOG=$(cd "$LOG" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SITE=${NR_GPU_SITE:-/tmp/nr-site}
CUDA_ROOT=${CUDA_ROOT:-$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")}
export NEURARUST_CUDA_CACHE=${NEURARUST_CUDA_CACHE:-/tmp/nr-cuda-cache}
status() { printf '%-28s %s\n' "$1" "$2" | tee -a "$LOG/summary.txt"; }
: > "$LOG/summary.txt"
{ date; nvidia-smi || true; nvcc --version || true; python3 --version; } > "$LOG/machine.txt" 2>&1

# 1. pycuda (about 1-2 minutes on 16 cores); its build imports pytools etc. from $SITE
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if python3 -c "import sys; sys.path.insert(0, '$SITE'); import pycuda" 2>/dev/null; then
  status "pycuda build" "already in $SITE"
else
  (
    set -e
    python3 -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl
    rm -rf /tmp/nr-pycuda-src && mkdir -p /tmp/nr-pycuda-src
    tar xzf .whl/pycuda-*.tar.gz -C /tmp/nr-pycuda-src
    cd /tmp/nr-pycuda-src/pycuda-*
    python3 configure.py --cuda-root="$CUDA_ROOT" || python3 configure.py --cuda-root="$CUDA_ROOT" --no-cuda-enable-curand
    MAKEFLAGS=-j16 python3 -m pip install -q --no-build-isolation --no-deps --target "$SITE" .
  ) > "$LOG/pycuda_build.log" 2>&1 && status "pycuda build" "ok (cuda root $CUDA_ROOT)" \
    || status "pycuda build" "FAILED, see pycuda_build.log"
fi
python3 -c "import pycuda.autoinit, pycuda.driver as d; print(d.Context.get_device().name())" \
  > "$LOG/pycuda_import.log" 2>&1 && status "pycuda import" "$(tail -1 "$LOG/pycuda_import.log")" \
  || status "pycuda import" "FAILED, see pycuda_import.log"

# 2. the CUDA tests on the real device (emulator tests rerun against pycuda + cuBLAS)
NEURARUST_DEVICE=cuda timeout 300 python3 -m pytest tests/cuda -q -p no:cacheprovider \
  > "$LOG/tests_cuda.log" 2>&1
status "tests/cuda on the GPU" "rc=$? $(tail -1 "$LOG/tests_cuda.log")"

# 3. the whole suite on the real device: NEURARUST_DEVICE=cuda makes tests/conftest.py set the
#    cuda default device for every test (docs/cuda.md, "The test suite on cuda"); cpu_only
#    tests skip. The counts go to the summary; NR_GPU_FULL=0 skips this step.
if [ "${NR_GPU_FULL:-1}" = 1 ]; then
  XDIST=""  # one process per core where pytest-xdist is installed (each its own CUDA context)
  python3 -c "import xdist" 2>/dev/null && XDIST="-n ${NR_GPU_WORKERS:-8}"
  # shellcheck disable=SC2086
  NEURARUST_DEVICE=cuda timeout "${NR_GPU_SUITE_TIMEOUT:-480}" python3 -m pytest tests -o addopts= \
    -q -p no:cacheprovider --ignore=tests/cuda --tb=line -rfs $XDIST \
    > "$LOG/tests_suite_cuda.log" 2>&1
  status "whole suite on cuda" "rc=$? $(tail -1 "$LOG/tests_suite_cuda.log")"
  grep -E "^FAILED|^ERROR" "$LOG/tests_suite_cuda.log" | sed 's/ - .*//' > "$LOG/tests_suite_cuda_failed.txt"
  status "  failed tests listed in" "tests_suite_cuda_failed.txt ($(wc -l < "$LOG/tests_suite_cuda_failed.txt"))"
fi

# 4. parity + benchmarks vs PyTorch CUDA
timeout 360 python3 bench/cuda.py --log "$LOG" > "$LOG/bench_cuda.log" 2>&1
status "bench/cuda.py" "rc=$? (table in bench_cuda.log, json in cuda_bench.json)"

echo
cat "$LOG/bench_cuda.log"
echo
cat "$LOG/summary.txt"
