#!/usr/bin/env bash
# Cloud TPU VM / pod slice: create, copy code + prepared data, run on all hosts.
#   launch/tpu_vm.sh create   NAME ZONE ACCELERATOR   (e.g. v5litepod-16)
#   launch/tpu_vm.sh setup    NAME ZONE               (install the package on every host)
#   launch/tpu_vm.sh train    NAME ZONE CONFIG WORKDIR DATA_DIR [--config.x=y ...]
#   launch/tpu_vm.sh delete   NAME ZONE
# WORKDIR and DATA_DIR should be gs:// paths (Orbax and TFDS read/write GCS directly);
# every host runs the same command; jax.distributed.initialize() finds the slice's
# coordinator from the TPU metadata, so no address is needed.
set -euo pipefail
cmd=${1:?create|setup|train|delete}; name=${2:?tpu name}; zone=${3:?zone}; shift 3
ssh_all() { gcloud compute tpus tpu-vm ssh "$name" --zone="$zone" --worker=all --command="$1"; }
case "$cmd" in
  create)
    accel=${1:?accelerator type}
    gcloud compute tpus tpu-vm create "$name" --zone="$zone" --accelerator-type="$accel" \
      --version=tpu-ubuntu2204-base ;;
  setup)
    repo=$(cd "$(dirname "$0")/.." && pwd)
    tar -C "$repo" --exclude=.venv --exclude=runs -czf /tmp/wav2sleep_jax.tgz .
    gcloud compute tpus tpu-vm scp /tmp/wav2sleep_jax.tgz "$name":~/ --zone="$zone" --worker=all
    ssh_all 'mkdir -p wav2sleep_jax && tar -xzf wav2sleep_jax.tgz -C wav2sleep_jax &&
      cd wav2sleep_jax && python3 -m venv .venv && .venv/bin/pip install -q -e . "jax[tpu]"' ;;
  train)
    config=${1:?config}; workdir=${2:?workdir}; data_dir=${3:?data dir}; shift 3
    ssh_all "cd wav2sleep_jax && .venv/bin/python -m wav2sleep_jax.train --distributed \
      --config=$config --workdir=$workdir \
      --config.data_dir=$data_dir --config.worker_count=8 $*" ;;
  delete)
    gcloud compute tpus tpu-vm delete "$name" --zone="$zone" --quiet ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
