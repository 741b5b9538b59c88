"""A split whose every night is skipped is left out; the skip report is always written."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from tests.builders import defects
from wav2sleep_jax.builders import nsrr_builder
from tfds_builders.mesa import mesa_dataset_builder

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_NIGHTS = (0, 1, 2, 3, 15)  # Good, good, corrupt EDF, truncated EDF, no annotation.


@pytest.fixture(scope='module')
def nights_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('mesa_nights')
  defects.write_defects(root, _NIGHTS)
  return root


def _manual_dir(tmp_path, nights_dir, lists):
  """A manual dir (symlinks to the nights) with split lists {split: indices}."""
  manual = tmp_path / 'manual'
  manual.mkdir(parents=True)
  for entry in nights_dir.iterdir():
    (manual / entry.name).symlink_to(entry)
  (manual / 'splits' / 'mesa').mkdir(parents=True)
  for name, indices in lists.items():
    (manual / 'splits' / 'mesa' / f'{name}.txt').write_text(''.join(
        f'{defects.record_id(i)}\n' for i in indices))
  return manual


def _rows(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_all_skipped_split_is_left_out_and_reported(tmp_path, nights_dir, caplog):
  manual = _manual_dir(tmp_path, nights_dir, {'train': (0, 1), 'test': (2, 3, 15)})
  builder = mesa_dataset_builder.Builder(data_dir=str(tmp_path / 'data'))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)),
      file_format='array_record')
  assert {s: i.num_examples for s, i in builder.info.splits.items()} == {'train': 2}
  assert builder.splits_left_out == ('test',)
  rows = _rows(f'{builder.data_dir}/skipped.csv')
  assert {r['record_id'] for r in rows
         } == {'split:test', *(defects.record_id(i) for i in (2, 3, 15))}
  left = [r for r in rows if r['record_id'] == 'split:test'][0]
  assert left['action'] == 'split left out' and '(3 nights)' in left['reason']
  summary = json.loads(open(f'{builder.data_dir}/skipped.json').read())['summary']
  assert summary['splits left out'] == 1 and summary['nights skipped'] == 3
  assert "every night of split 'test' was skipped" in caplog.text
  assert 'splits left out (every night skipped): test' in caplog.text


def test_failed_build_still_writes_the_report(tmp_path, nights_dir):
  manual = _manual_dir(tmp_path, nights_dir, {'train': (2, 15), 'test': (3,)})
  builder = mesa_dataset_builder.Builder(data_dir=str(tmp_path / 'data'))
  with pytest.raises(nsrr_builder.NothingBuiltError, match='every night of every split'):
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)),
        file_format='array_record')
  config_dir = pathlib.Path(builder.data_dir).parent
  rows = _rows(config_dir / f'skipped-{builder.version}-failed.csv')
  assert {r['record_id'] for r in rows} >= {defects.record_id(i) for i in (2, 3, 15)}
  assert not list(config_dir.glob(f'{builder.version}'))  # No dataset was written.


def _build_cli(manual, data_dir):
  return subprocess.run([
      sys.executable, '-m', 'tfds_builders.build', 'mesa', f'--manual_dir={manual}',
      f'--data_dir={data_dir}'
  ],
                        cwd=_ROOT,
                        env=dict(os.environ, PYTHONPATH=str(_ROOT)),
                        capture_output=True,
                        text=True,
                        timeout=600)


@pytest.mark.slow
def test_cli_exit_codes(tmp_path, nights_dir):
  partial = _build_cli(
      _manual_dir(tmp_path / 'a', nights_dir, {
          'train': (0,),
          'test': (2,)
      }), tmp_path / 'data_a')
  assert partial.returncode == 1, partial.stderr[-3000:]
  assert partial.stderr.strip().splitlines()[-1].startswith(
      'Built, but these splits were left out because every night was skipped '
      '(see skipped.csv): mesa/default: test (in ')
  failed = _build_cli(_manual_dir(tmp_path / 'b', nights_dir, {'train': (3,)}), tmp_path / 'data_b')
  assert failed.returncode == 2, failed.stderr[-3000:]
  assert failed.stderr.strip().splitlines()[-1].startswith(
      'error: mesa: every night of every split was skipped (1 nights skipped')
  assert 'Traceback' not in failed.stderr
  missing = _build_cli(tmp_path / 'absent', tmp_path / 'data_c')
  assert missing.returncode == 2, missing.stderr[-3000:]
  assert missing.stderr.strip().splitlines()[-1].startswith(
      f'error: Manual directory {tmp_path / "absent"} does not exist')


def test_demo_data_failure_names_the_build_error(tmp_path):
  from ml_collections import ConfigDict
  from wav2sleep_jax.training import demo_data
  cohort = ConfigDict(
      dict(
          name='demo_none',
          layout='mesa',
          nights=0,
          hours=0.1,
          seed=0,
          split_sizes=(0.5, 0.25, 0.25)))
  config = ConfigDict(dict(data_dir=str(tmp_path / 'data'), synthetic_cohorts=[cohort]))
  with pytest.raises(
      RuntimeError, match=r'synthetic cohort demo_none failed: .*num_nights=0 must be at least 1'):
    demo_data.prepare(config, tmp_path)
