#!/usr/bin/env bash
# Accelerator benchmarks in one command: train / infer / memory (float32 and bfloat16) and the
# data pipeline, one JSON (OUT/suite.json) and a README-ready table (OUT/table.md).
#
#   pip install -e '.[gpu]'                      # jax with CUDA, once
#   launch/gpu_benchmark.sh --out=bench_gpu      # ~10 min on one H100/H200
#   launch/gpu_benchmark.sh --out=bench_gpu --dry_run   # print the commands only
#
# Without a GPU visible to JAX it stops at once with one line (exit 2). Extra flags after `--`
# go to every `python -m wav2sleep_jax.benchmark` call (e.g. -- --remat).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PYTHON" -m wav2sleep_jax.benchmarks.suite "$@"
