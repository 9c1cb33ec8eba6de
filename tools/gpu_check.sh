#!/usr/bin/env bash
# CUDA checks, run by hand on a machine with a GPU and a system-wide torch (no uv there):
# the CUDA tests, the prefetcher's host time per batch, the GPU throughput benchmark (trainer
# against a plain loop, one workload per process, so a stage cut short by its time limit still
# leaves the others' rows), the quickstart on the GPU in every precision, with and without
# torch.compile, then a profile of each side's host time. Expects the workspace wheels, and
# those of any dependency the machine lacks, in .whl/ (a GPU machine with Python 3.12 and
# torch but no pydantic):
#   uv build --all-packages -o .whl && rm .whl/*.tar.gz
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl pydantic==<locked> pydantic-core==<locked> \
#       annotated-types typing-inspection typing-extensions
# Each stage has its own time limit (seconds); GPU_CHECK_SCALE=0.5 halves them all.
set -uo pipefail
export PYTHONUNBUFFERED=1
scale=${GPU_CHECK_SCALE:-1}
limit() { python3 -c "print(max(10, round($1 * $scale)))"; }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

echo "== CUDA tests"
timeout "$(limit 100)" python3 -m pytest -q -p no:cacheprovider -rs \
    packages/noether-core/tests/trainer/test_core_trainer_cuda.py \
    packages/noether-core/tests/data/test_core_prefetch.py \
    packages/noether-core/tests/models/test_core_model_base.py \
    packages/noether-core/tests/test_core_build.py \
    packages/noether-core/tests/test_core_host.py 2>&1 | tail -15

echo "== host time per batch of the side-stream prefetcher (tools/bench/prefetch_copy.py)"
timeout "$(limit 40)" python3 tools/bench/prefetch_copy.py 2>&1 | grep -v -i warning

echo "== GPU throughput: trainer against a plain loop (tools/bench/gpu_throughput.py)"
for stage in A:150 B:100 T:240; do
    workload=${stage%%:*}
    timeout "$(limit "${stage#*:}")" python3 tools/bench/gpu_throughput.py --device cuda \
        --workload "$workload" --control 2>&1 | grep -v -i warning
    echo "(workload $workload: exit ${PIPESTATUS[0]})"
done

# quickstart CACHE OVERRIDES...: one quickstart run on the GPU with its own inductor cache.
quickstart() {
    local cache=$1 start status
    shift
    echo "== quickstart on cuda: $* (inductor cache: $cache)"
    start=$(date +%s.%N)
    TORCHINDUCTOR_CACHE_DIR="$caches/$cache" timeout "$(limit 80)" python3 -m noether.core.cli \
        examples/quickstart/config.yaml output_path=/tmp/runs device=cuda "$@" > /tmp/qs.log 2>&1
    status=$?
    echo "exit $status wall $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
    if [ "$status" -eq 0 ]; then grep -E "final loss/(online|val)/total|precision|fall" /tmp/qs.log
    else tail -8 /tmp/qs.log; fi
}

# A float16 compiled run must not get the graph of a bfloat16 one from a shared cache: on an
# H200 (torch 2.11) it did, before the trainer put the autocast dtype into torch's cache key
# tag (noether.core.trainer.compiling). So the float16 one runs on its own cache, then again
# on the bfloat16 one's: both must train to the same loss.
caches=$(mktemp -d)
quickstart bfloat16 trainer.precision=bfloat16 trainer.use_torch_compile=true
quickstart float16 trainer.precision=float16 trainer.use_torch_compile=true
own=$(grep -m1 "final loss/online/total" /tmp/qs.log)
quickstart bfloat16 trainer.precision=float16 trainer.use_torch_compile=true
shared=$(grep -m1 "final loss/online/total" /tmp/qs.log)
if [ -n "$own" ] && [ "$own" = "$shared" ]; then
    echo "float16 compiled on the bfloat16 cache: same loss as on its own cache (ok)"
else
    echo "float16 compiled on the bfloat16 cache: '$shared', on its own: '$own' (DIFFERENT)"
fi
for precision in float32 bfloat16 float16; do
    quickstart "$precision" trainer.precision=$precision
done

echo "== where the host time goes on A and B (gpu_throughput.py --profile)"
timeout "$(limit 90)" python3 tools/bench/gpu_throughput.py --device cuda --workload A,B \
    --variants fp32 --bare --profile 25 2>&1 | grep -v -i warning
