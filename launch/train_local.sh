#!/usr/bin/env bash
# Train on one machine (CPU or a single GPU) from a checkout.
#   launch/train_local.sh CONFIG WORKDIR [--config.x=y ...]
# Example: launch/train_local.sh wav2sleep_jax/configs/default.py runs/paper --config.data_dir=$HOME/tensorflow_datasets
# A re-run with the same WORKDIR resumes from its newest checkpoint.
set -euo pipefail
config=${1:?config file}; workdir=${2:?workdir}; shift 2
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
exec "$python" -m wav2sleep_jax.train --config="$config" --workdir="$workdir" "$@"
