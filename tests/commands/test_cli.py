"""Command-line conventions: usage/input errors are one `error:` line and exit 2.

Every command is run as a subprocess with a bad invocation; none may print a
traceback, and checks on --output happen before any model is loaded (the
model paths given here do not exist).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from wav2sleep_jax.core import cli
from wav2sleep_jax.models import io as model_io
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, tiny_config


def _run(*args, timeout=300):
  return subprocess.run([sys.executable, *args],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=timeout)


def _assert_usage_error(result, *fragments):
  """Exit 2, one `error:` line naming every fragment, no traceback."""
  lines = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert result.returncode == cli.EXIT_USAGE, (result.returncode, result.stderr[-3000:])
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  assert len(lines) == 1, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])
  return lines[0]


_SCRIPT = textwrap.dedent('''
    import sys
    from absl import flags
    from wav2sleep_jax.core import cli
    flags.DEFINE_string('what', 'ok', '')

    def main(argv):
      what = flags.FLAGS.what
      if what == 'input':
        raise cli.InputError('bad value\\nsecond line')
      if what == 'missing':
        raise FileNotFoundError('no such file: x.edf')
      if what == 'custom':
        raise KeyError('custom input error')
      if what == 'bug':
        raise RuntimeError('a bug')
      return cli.EXIT_PARTIAL if what == 'partial' else 0

    cli.run(main, errors=(KeyError,))
''')


@pytest.mark.parametrize('args, code, fragment', [
    ([], 0, None),
    (['--what=partial'], 1, None),
    (['--what=input'], 2, 'error: bad value'),
    (['--what=missing'], 2, 'error: no such file: x.edf'),
    (['--what=custom'], 2, "error: 'custom input error'"),
    (['--nosuchflag'], 2, 'error: Unknown command line flag'),
    (['extra', 'args'], 2, 'error: Unexpected arguments: extra args'),
    (['--what=bug'], 1, 'Traceback'),
])
def test_cli_run_exit_codes(args, code, fragment):
  result = _run('-c', _SCRIPT, *args, timeout=60)
  assert result.returncode == code, result.stderr
  if fragment is not None:
    assert fragment in result.stderr
  if code == 2:
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # One line.
    assert 'second line' not in result.stderr


@pytest.mark.slow
def test_predict_usage_errors(tmp_path):
  _assert_usage_error(_run('-m', 'wav2sleep_jax.predict'), 'model')
  (tmp_path / 'night.edf').write_bytes(b'garbage')
  (tmp_path / 'out_file').write_text('x')
  base = [
      '-m', 'wav2sleep_jax.predict', f'--model={tmp_path / "no_model"}',
      f'--input={tmp_path / "night.edf"}'
  ]
  _assert_usage_error(_run(*base, f'--output={tmp_path / "out_file"}'), 'out_file', 'is a file')
  _assert_usage_error(_run(*base, f'--output={tmp_path / "out_file" / "sub"}'), 'out_file')
  _assert_usage_error(_run(*base, f'--output={tmp_path / "out"}', '--channels=ECG'), 'SIGNAL=LABEL')
  _assert_usage_error(_run(*base, f'--output={tmp_path / "out"}', '--input_formats=edf,xls'), 'xls')
  _assert_usage_error(_run(*base, f'--output={tmp_path / "out"}'), 'no_model')
  _assert_usage_error(
      _run('-m', 'wav2sleep_jax.predict', f'--model={tmp_path / "m"}',
           f'--input={tmp_path / "nothing"}', f'--output={tmp_path / "o"}'), 'nothing')


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  """A run folder with a tiny model and config.json but no prepared dataset."""
  path = tmp_path_factory.mktemp('run')
  cfg = tiny_config(signals=('ECG', 'THX'))
  model_io.save_model(path / 'model', cfg, random_params(cfg, seed=0))
  (path / 'config.json').write_text(
      json.dumps({
          'eval_subsets': [[]],
          'eval_batch_size': 1,
          'eval_epochs': 20,
          'test_datasets': ['nosuch_ds'],
          'val_datasets': ['nosuch_ds'],
          'data_dir': str(path / 'data')
      }))
  return path


@pytest.mark.slow
def test_evaluate_errors_are_one_line(workdir, tmp_path):
  evaluate = ['-m', 'wav2sleep_jax.evaluate']
  _assert_usage_error(_run(*evaluate), 'workdir')
  _assert_usage_error(_run(*evaluate, f'--workdir={tmp_path / "none"}'), 'does not exist')
  (tmp_path / 'empty').mkdir()
  _assert_usage_error(_run(*evaluate, f'--workdir={tmp_path / "empty"}'), 'config.json')
  (tmp_path / 'bad').mkdir()
  (tmp_path / 'bad' / 'config.json').write_text('{not json')
  _assert_usage_error(_run(*evaluate, f'--workdir={tmp_path / "bad"}'), 'not a valid run config')
  (tmp_path / 'nomodel').mkdir()
  (tmp_path / 'nomodel' / 'config.json').write_text('{}')
  _assert_usage_error(_run(*evaluate, f'--workdir={tmp_path / "nomodel"}'), 'No trained model')
  line = _assert_usage_error(
      _run(*evaluate, f'--workdir={workdir}', '--datasets=nosuch_ds'), "'nosuch_ds'",
      'tfds_builders.build')
  assert len(line) < 600  # No TFDS listing of every dataset it knows.
  result = _run(*evaluate, f'--workdir={workdir}')
  line = _assert_usage_error(result, 'nosuch_ds')
  assert len(result.stderr) < 3000, result.stderr  # No listing in the warnings either.
  _assert_usage_error(_run(*evaluate, f'--workdir={workdir}', '--subsets=EEG'), 'EEG')


@pytest.mark.slow
def test_export_checks_output_before_loading(tmp_path):
  export = ['-m', 'wav2sleep_jax.export', f'--model={tmp_path / "no_model"}']
  _assert_usage_error(_run('-m', 'wav2sleep_jax.export'), 'model')
  _assert_usage_error(_run(*export, f'--output={tmp_path}'), 'is a folder')
  (tmp_path / 'file').write_text('x')
  _assert_usage_error(_run(*export, f'--output={tmp_path / "file" / "f.bin"}'), 'not a folder')
  _assert_usage_error(_run(*export, f'--output={tmp_path / "f.bin"}'), 'no_model')


@pytest.mark.slow
def test_synthesize_smoke_benchmark_usage_errors(tmp_path):
  (tmp_path / 'file').write_text('x')
  _assert_usage_error(_run('-m', 'wav2sleep_jax.synthesize'), 'cohort')
  _assert_usage_error(
      _run('-m', 'wav2sleep_jax.synthesize', '--cohort=nope', f'--output={tmp_path}'), 'cohort')
  _assert_usage_error(
      _run('-m', 'wav2sleep_jax.synthesize', '--cohort=mesa', f'--output={tmp_path / "file"}'),
      'is a file')
  _assert_usage_error(_run('-m', 'wav2sleep_jax.smoke', 'extra'), 'Unexpected arguments')
  _assert_usage_error(_run('-m', 'wav2sleep_jax.smoke', '--hours=0.001'), 'shorter than one')
  _assert_usage_error(_run('-m', 'wav2sleep_jax.benchmark'), 'usage')
  _assert_usage_error(_run('-m', 'wav2sleep_jax.benchmark', 'data', '--workers=x'), 'workers')
