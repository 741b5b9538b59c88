"""`tfds build` (the TFDS command, `tf` extra) writes what training reads, without flags."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_HAS_TF = importlib.util.find_spec('tensorflow') is not None  # Not imported here.

# Trains on the build in a fresh process and reports whether TensorFlow was imported.
_TRAIN = """
import json, sys
from tests.train_testutil import tiny_train_config
from wav2sleep_jax.training import trainer
data_dir, workdir, out = sys.argv[1:]
config = tiny_train_config(max_steps=2, eval_every_steps=2, log_every_steps=1)
config.data_dir = data_dir
config.train_datasets = config.val_datasets = config.test_datasets = ('synthetic/tiny',)
result = trainer.train_and_evaluate(config, workdir)
with open(out, 'w') as f:
  json.dump({'status': result['status'], 'step': result['step'],
             'tensorflow': 'tensorflow' in sys.modules}, f)
"""


def _tfds_command() -> str:
  command = pathlib.Path(sys.executable).parent / 'tfds'
  return str(command) if command.is_file() else shutil.which('tfds') or 'tfds'


@pytest.mark.slow
@pytest.mark.skipif(
    not _HAS_TF,
    reason="TensorFlow is not installed: `tfds build` needs "
    "the `tf` extra (pip install -e '.[tf]')")
def test_tfds_build_writes_array_record_that_training_reads(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  data_dir = tmp_path / 'data'
  config = {
      'name': 'tiny',
      'cohort_layout': 'mesa',
      'num_nights': 6,
      'hours': 0.1,
      'split_sizes': [0.5, 0.25, 0.25]
  }
  build = subprocess.run([
      _tfds_command(), 'build',
      str(_ROOT / 'tfds_builders' / 'synthetic'), f'--config={json.dumps(config)}',
      f'--data_dir={data_dir}'
  ],
                         cwd=tmp_path,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=900)
  assert build.returncode == 0, build.stderr[-3000:]
  version_dir = data_dir / 'synthetic' / 'tiny' / '1.0.0'
  files = sorted(p.name for p in version_dir.iterdir())
  assert any('.array_record-' in f for f in files), files
  assert not any('.tfrecord' in f for f in files), files
  assert (version_dir / 'skipped.csv').is_file()

  out = tmp_path / 'result.json'
  train = subprocess.run(
      [sys.executable, '-c', _TRAIN,
       str(data_dir), str(tmp_path / 'run'),
       str(out)],
      cwd=_ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=900)
  assert train.returncode == 0, train.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result == {'status': 'finished', 'step': 2, 'tensorflow': False}
