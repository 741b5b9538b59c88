"""Benchmark harness (medians after warm-up; numbers for the README, never for tests).

  python -m wav2sleep_jax.benchmark {train,infer} [--batch=2 --hours=10
      --signals=ECG,PPG,ABD,THX --dtype=float32 --encoder_impl=auto --remat
      --repeats=5 --warmup=2 --config=wav2sleep_jax/configs/default.py] [--json=OUT.json]
  python -m wav2sleep_jax.benchmark compare [same flags as train/infer; --kinds=train,infer
      --baseline_heap=system|reusable]
  python -m wav2sleep_jax.benchmark memory [--hours=10 --remat --budget_gb=24]
  python -m wav2sleep_jax.benchmark data [--cohort=mesa --nights=12 --hours=8 --workers=0,1,2]
      [--manual_dir=NSRR_FOLDER --data_dir=DIR --dataset=NAME] [--json=OUT.json]
  python -m wav2sleep_jax.benchmark predict [--nights=12 --lengths=varied|fixed --hours=8
      --cohort=mesa --bucket_hours=1 --batch=8 --read_workers=2 --config=...] [--json=OUT.json]

`train`: full training steps (signal masking, polarity flips, forward, backward,
AdamW) on random nights; `infer`: the eval-mode forward pass. Both report
nights/s (batch / median step time), compile time, XLA memory of the step, peak
host/device memory, FLOPs and FLOP/s (see benchmarks/model_bench.py). The model
and training recipe come from --config (a training config file, default the
paper's; `--config.model.feature_dim=64` etc. override it), then --signals,
--dtype, --encoder_impl and --remat override the model. --batch defaults to 2
nights on CPU and 16 (the paper's batch) on GPU/TPU.

`compare`: the PyTorch baseline (benchmarks/torch_baseline.py, the reference
architecture in PyTorch; `torch` extra) and our step, side by side in one run on
this machine, with the ratio per step kind and the CPU model (benchmarks/compare.py).

`memory`: the largest batch whose training step fits --budget_gb per device
(default: the device memory on GPU/TPU, physical RAM on CPU), found by compiling
the step for increasing batches without running it.

`data`: nights/min per core to build examples from EDF + annotations, nights/s
read back through `tfds.data_source`, and nights/s out of the Grain training
pipeline (10-h windows) with each of --workers worker processes, with the worker
count that would sustain 100 nights/s. Without --manual_dir, synthetic nights of
the chosen cohort layout are generated (and built with the TF-free TFDS build)
in a temporary folder first.

`predict`: `predict` end to end (read, resample, infer in length buckets, write)
on a temporary folder of synthetic EDFs of the --cohort layout, nights of
--hours to --hours + 1.5 h (varied) or all of --hours + 0.75 h (fixed), with the
--config model (random weights): nights/min, compilations, peak RSS, read vs
inference time (benchmarks/predict_bench.py). --batch defaults to 8 here.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import tempfile

from absl import app
from absl import flags
from ml_collections import config_flags

from wav2sleep_jax.core import cli
from wav2sleep_jax.models import host_heap


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  config_flags.DEFINE_config_file(
      'config',
      None, 'Training config file whose model and recipe to time (default: the '
      "paper's); --config.model.feature_dim=64 etc. override it.",
      lock_config=True)
  flags.DEFINE_string('cohort', 'mesa', 'Cohort layout.')
  flags.DEFINE_integer('nights', 12, 'Synthetic nights to generate.')
  flags.DEFINE_float(
      'hours', None, 'Night length in hours (default: 10 for train/infer/memory, 8 for the '
      'synthetic nights of data).')
  flags.DEFINE_integer('batch', None, 'Nights per step (default: 2 on CPU, 16 on '
                       'GPU/TPU).')
  flags.DEFINE_list('signals', None, "Model signals (default: the config's, "
                    'ECG,PPG,ABD,THX for the paper).')
  flags.DEFINE_enum('dtype', None, ['float32', 'bfloat16'],
                    "Compute dtype (default: the config's, float32).")
  flags.DEFINE_enum('encoder_impl', None, ['auto', 'loop', 'vmap'],
                    "Encoder implementation (default: the config's, auto).")
  flags.DEFINE_bool(
      'remat', None, "Rematerialise the encoders (default: the "
      "config's: on for the paper config, off for the demo).")
  flags.DEFINE_integer('repeats', 5, 'Timed steps (the median is reported).')
  flags.DEFINE_integer('warmup', 2, 'Untimed steps after compiling.')
  flags.DEFINE_float(
      'budget_gb', None, 'memory: budget per device in GB (1e9 '
      'bytes; default: device memory, or RAM on CPU).')
  flags.DEFINE_integer('max_batch', 4096, 'memory: largest batch to try.')
  flags.DEFINE_string('manual_dir', None, 'NSRR-layout folder (real data).')
  flags.DEFINE_string('data_dir', None, 'TFDS data dir of a prepared dataset.')
  flags.DEFINE_string('dataset', None, 'Prepared TFDS dataset name to read.')
  flags.DEFINE_list(
      'workers', ['0', '1', '2'], 'data: Grain worker counts to '
      'time the training pipeline with (0 = in-process).')
  flags.DEFINE_list('kinds', ['train', 'infer'], 'compare: step kinds to compare.')
  flags.DEFINE_enum(
      'baseline_heap', 'system', ['system', 'reusable'],
      "compare: the PyTorch baseline's heap: glibc defaults (as the reference runs) or the "
      'reusable-heap settings our commands use (models/host_heap.py).')
  flags.DEFINE_enum('lengths', 'varied', ['varied', 'fixed'],
                    'predict: nights of spread lengths or of one length.')
  flags.DEFINE_float(
      'bucket_hours',
      1.0, 'predict: length bucket width in '
      'hours (0: exact lengths).',
      lower_bound=0)
  flags.DEFINE_integer('read_workers', 2, 'predict: reader threads.', lower_bound=0)
  flags.DEFINE_string('json', None, 'Write the results to this JSON file.')


# CPU features that decide XLA:CPU / oneDNN kernels (recorded with every number).
_VECTOR_FLAGS = frozenset({
    'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16', 'avx512_fp16', 'avx512_vnni',
    'amx_tile', 'amx_bf16', 'amx_int8'
})


def cpu_identity(cpuinfo: str) -> dict[str, object]:
  """The first CPU of /proc/cpuinfo text: model name, vendor, family/model/stepping, flags.

  Virtual machines often report only "AMD EPYC"; the family and model tell their
  generations apart (e.g. family 25 is Zen 3/4, family 26 Zen 5).
  """
  fields = {}
  for line in cpuinfo.splitlines():
    if not line.strip():
      if fields:
        break  # End of the first processor's block.
      continue
    key, _, value = line.partition(':')
    fields.setdefault(key.strip(), value.strip())
  ident = {
      k: fields.get(f) for k, f in (('vendor', 'vendor_id'), ('family', 'cpu family'),
                                   ('model', 'model'), ('stepping', 'stepping'))
  }
  name = fields.get('model name') or platform.processor()
  numbers = ', '.join(f'{k} {ident[k]}' for k in ('family', 'model') if ident[k])
  return {
      'cpu': f'{name} ({numbers})' if numbers else name,
      'cpu_id': ident,
      'cpu_flags': sorted(set(fields.get('flags', '').split()) & _VECTOR_FLAGS)
  }


def machine() -> dict[str, object]:
  """What the numbers were measured on."""
  try:
    cpuinfo = pathlib.Path('/proc/cpuinfo').read_text()
  except OSError:
    cpuinfo = ''
  return {
      **cpu_identity(cpuinfo), 'cpu_count': os.cpu_count(),
      'platform': platform.platform(),
      'python': platform.python_version(),
      'host_heap': {
          k: os.environ.get(k) for k in host_heap.SETTINGS
      }
  }


def _synthetic_build(tmp: pathlib.Path) -> tuple[str, str, str]:
  """Generate + build synthetic nights; returns (manual_dir, data_dir, dataset)."""
  from wav2sleep_jax.builders import build_runner
  from wav2sleep_jax.builders import synthetic_builder
  name = f'bench_{flags.FLAGS.cohort}'
  hours = 8.0 if flags.FLAGS.hours is None else flags.FLAGS.hours
  config = synthetic_builder.SyntheticConfig(
      name=name,
      cohort_layout=flags.FLAGS.cohort,
      num_nights=flags.FLAGS.nights,
      hours=hours,
      seed=0,
      split_sizes=(1.0, 0.0, 0.0),
      source_dir=str(tmp / 'nsrr'))
  build_runner.build(
      synthetic_builder.SyntheticBuilder(
          config=config, data_dir=str(tmp / 'tfds'), file_format='array_record'))
  return str(tmp / 'nsrr'), str(tmp / 'tfds'), f'synthetic/{name}'


def data_benchmark() -> dict[str, object]:
  from wav2sleep_jax.benchmarks import data_bench
  with tempfile.TemporaryDirectory() as tmp:
    if flags.FLAGS.manual_dir:
      manual_dir, data_dir, dataset = flags.FLAGS.manual_dir, flags.FLAGS.data_dir, flags.FLAGS.dataset
    else:
      manual_dir, data_dir, dataset = _synthetic_build(pathlib.Path(tmp))
    return data_bench.run_data_benchmark(
        manual_dir,
        flags.FLAGS.cohort,
        data_dir=data_dir,
        dataset=dataset,
        worker_counts=[int(w) for w in flags.FLAGS.workers])


def predict_benchmark() -> dict[str, object]:
  """`predict` over a synthetic folder with the --config model (random weights)."""
  from wav2sleep_jax.benchmarks import model_bench
  from wav2sleep_jax.benchmarks import predict_bench
  from wav2sleep_jax.configs import common
  from wav2sleep_jax.inference import model as model_lib
  from wav2sleep_jax.models import io as model_io

  config = flags.FLAGS.config or common.base_config()
  mcfg = model_bench.model_config(
      config,
      signals=flags.FLAGS.signals,
      dtype=flags.FLAGS.dtype,
      encoder_impl=flags.FLAGS.encoder_impl,
      remat=False)
  model = model_lib.StagingModel(mcfg, model_io.init_params(mcfg, seed=0))
  with tempfile.TemporaryDirectory() as tmp:
    return predict_bench.benchmark(
        model,
        tmp,
        cohort=flags.FLAGS.cohort,
        nights=flags.FLAGS.nights,
        hours=8.0 if flags.FLAGS.hours is None else flags.FLAGS.hours,
        lengths=flags.FLAGS.lengths,
        bucket_hours=flags.FLAGS.bucket_hours,
        batch_size=flags.FLAGS.batch or 8,
        workers=flags.FLAGS.read_workers)


def model_benchmark(kind: str) -> dict[str, object]:
  """`train`, `infer` or `memory` with the configuration given by the flags."""
  import jax
  from wav2sleep_jax.benchmarks import model_bench
  from wav2sleep_jax.configs import common

  config = flags.FLAGS.config or common.base_config()
  mcfg = model_bench.model_config(
      config,
      signals=flags.FLAGS.signals,
      dtype=flags.FLAGS.dtype,
      encoder_impl=flags.FLAGS.encoder_impl,
      remat=flags.FLAGS.remat)
  epochs = round(
      (10.0 if flags.FLAGS.hours is None else flags.FLAGS.hours) * model_bench.EPOCHS_PER_HOUR)
  batch = flags.FLAGS.batch or (2 if jax.default_backend() == 'cpu' else 16)
  if kind == 'compare':
    from wav2sleep_jax.benchmarks import compare
    unknown = set(flags.FLAGS.kinds) - set(compare.KINDS)
    if unknown:
      raise app.UsageError(f'--kinds: unknown {sorted(unknown)}; choose from {compare.KINDS}')
    result = compare.compare(
        config,
        mcfg,
        batch,
        epochs,
        flags.FLAGS.repeats,
        flags.FLAGS.warmup,
        kinds=tuple(flags.FLAGS.kinds),
        baseline_heap=flags.FLAGS.baseline_heap)
  elif kind == 'memory':
    budget = (model_bench.device_info()['memory_limit_bytes'] or model_bench.host_memory_bytes())
    if flags.FLAGS.budget_gb is not None:
      budget = flags.FLAGS.budget_gb * 1e9
    result = model_bench.largest_batch(config, mcfg, epochs, budget, flags.FLAGS.max_batch)
  else:
    result = model_bench.benchmark_step(kind, config, mcfg, batch, epochs, flags.FLAGS.repeats,
                                        flags.FLAGS.warmup)
  return {'device': model_bench.device_info(), **result}


def main(argv):
  kinds = ('train', 'infer', 'compare', 'memory', 'data', 'predict')
  if len(argv) != 2 or argv[1] not in kinds:
    raise app.UsageError(f'usage: python -m wav2sleep_jax.benchmark {{{",".join(kinds)}}} [flags]')
  bad = [w for w in flags.FLAGS.workers if not w.strip().isdigit()]
  if bad:
    raise cli.InputError(f'--workers must be worker counts >= 0, got {bad}.')
  for name in ('nights', 'batch', 'repeats', 'max_batch'):
    value = flags.FLAGS[name].value
    if value is not None and value < 1:
      raise cli.InputError(f'--{name} must be >= 1, got {value}.')
  if flags.FLAGS.hours is not None and not flags.FLAGS.hours > 0:
    raise cli.InputError(f'--hours must be > 0, got {flags.FLAGS.hours}.')
  run = {
      'data': data_benchmark,
      'predict': predict_benchmark
  }.get(argv[1], lambda: model_benchmark(argv[1]))
  result = {'benchmark': argv[1], 'machine': machine(), **run()}
  if argv[1] == 'compare':
    from wav2sleep_jax.benchmarks import compare
    result['table'] = compare.table(result, result['machine']['cpu'])
  text = json.dumps(result, indent=2, default=float)
  print(text)
  if 'table' in result:
    print('\n' + result['table'])
  if flags.FLAGS.json:
    pathlib.Path(flags.FLAGS.json).write_text(text)


def run():
  """Console script `wav2sleep-benchmark`."""
  define_flags()
  host_heap.reexec_with_reusable_heap()
  cli.run(main, positional=True)


if __name__ == '__main__':
  run()
