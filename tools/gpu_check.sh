#!/usr/bin/env bash
# CUDA checks, run by hand on a machine with a GPU and a system-wide torch (no uv there):
# the CUDA tests, the GPU throughput benchmark (trainer against a plain loop), then the
# quickstart on the GPU in every precision, with and without torch.compile. Expects the
# workspace wheels (and any missing dependency wheels) in .whl/:
#   uv build --all-packages -o .whl
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

echo "== CUDA tests"
python3 -m pytest -q -p no:cacheprovider -rs \
    packages/noether-core/tests/trainer/test_core_trainer_cuda.py \
    packages/noether-core/tests/data/test_core_prefetch.py \
    packages/noether-core/tests/models/test_core_model_base.py \
    packages/noether-core/tests/test_core_build.py \
    packages/noether-core/tests/test_core_host.py 2>&1 | tail -15

echo "== GPU throughput: trainer against a plain loop (tools/bench/gpu_throughput.py)"
timeout 420 python3 tools/bench/gpu_throughput.py --device cuda 2>&1 | grep -v Warning | tail -20

for variant in "float32" "bfloat16" "float16" \
    "bfloat16 trainer.use_torch_compile=true" "float16 trainer.use_torch_compile=true"; do
    echo "== quickstart on cuda: precision=$variant"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    python3 -m noether.core.cli examples/quickstart/config.yaml output_path=/tmp/runs \
        device=cuda trainer.precision=$variant > /tmp/qs.log 2>&1
    echo "exit $? wall $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
    grep -E "final |precision|fall|Error|error" /tmp/qs.log | tail -6
done
