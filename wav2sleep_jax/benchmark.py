"""Benchmark harness (medians after warm-up; numbers for the README, never for tests).

  python -m wav2sleep_jax.benchmark data [--cohort=mesa --nights=12 --hours=8]
      [--manual_dir=NSRR_FOLDER --data_dir=DIR --dataset=NAME] [--json=OUT.json]

`data`: nights/min per core to build examples from EDF + annotations, and nights/s
read back through `tfds.data_source`. Without --manual_dir, synthetic nights of
the chosen cohort layout are generated (and built with the TF-free TFDS build)
in a temporary folder first.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

_COHORT = flags.DEFINE_string('cohort', 'mesa', 'Cohort layout.')
_NIGHTS = flags.DEFINE_integer('nights', 12, 'Synthetic nights to generate.')
_HOURS = flags.DEFINE_float('hours', 8.0, 'Length of each synthetic night.')
_MANUAL_DIR = flags.DEFINE_string('manual_dir', None, 'NSRR-layout folder (real data).')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data dir of a prepared dataset.')
_DATASET = flags.DEFINE_string('dataset', None, 'Prepared TFDS dataset name to read.')
_JSON = flags.DEFINE_string('json', None, 'Write the results to this JSON file.')


def machine() -> dict[str, object]:
  """What the numbers were measured on."""
  cpu = platform.processor()
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        cpu = line.split(':', 1)[1].strip()
        break
  except OSError:
    pass
  return {'cpu': cpu, 'cpu_count': os.cpu_count(), 'platform': platform.platform(),
          'python': platform.python_version()}


def _synthetic_build(tmp: pathlib.Path) -> tuple[str, str, str]:
  """Generate + build synthetic nights; returns (manual_dir, data_dir, dataset)."""
  name = f'bench_{_COHORT.value}'
  spec = {'name': name, 'cohort_layout': _COHORT.value, 'num_nights': _NIGHTS.value,
          'hours': _HOURS.value, 'seed': 0, 'split_sizes': [1.0, 0.0, 0.0],
          'source_dir': str(tmp / 'nsrr')}
  build = subprocess.run([sys.executable, '-m', 'tfds_builders.build', 'synthetic',
                          f'--config={json.dumps(spec)}', f'--data_dir={tmp / "tfds"}'],
                         capture_output=True, text=True)
  if build.returncode:
    raise RuntimeError(f'Synthetic build failed:\n{build.stderr[-3000:]}')
  return str(tmp / 'nsrr'), str(tmp / 'tfds'), f'synthetic/{name}'


def data_benchmark() -> dict[str, object]:
  from wav2sleep_jax.benchmarks import data_bench
  with tempfile.TemporaryDirectory() as tmp:
    if _MANUAL_DIR.value:
      manual_dir, data_dir, dataset = _MANUAL_DIR.value, _DATA_DIR.value, _DATASET.value
    else:
      manual_dir, data_dir, dataset = _synthetic_build(pathlib.Path(tmp))
    return data_bench.run_data_benchmark(manual_dir, _COHORT.value, data_dir=data_dir,
                                         dataset=dataset)


def main(argv):
  if len(argv) != 2 or argv[1] not in ('data',):
    raise app.UsageError('usage: python -m wav2sleep_jax.benchmark data [flags]')
  result = {'benchmark': argv[1], 'machine': machine(), **data_benchmark()}
  text = json.dumps(result, indent=2, default=float)
  print(text)
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(text)


if __name__ == '__main__':
  app.run(main)
