"""Training and serving read a night the same way: a built example equals predict's input."""

import csv
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.builders import defects
from tfds_builders.mesa import mesa_dataset_builder
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import input_files
from wav2sleep_jax.psg import night as night_lib

SIGNALS = signals_lib.CARDIORESPIRATORY
# Good, flat ABD, all-NaN PPG, annotation shorter than the EDF (labels padded).
_KEPT = (0, 5, 6, 11)
_SKIPPED = (8, 12)  # Malformed XML, no usable signal.


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  """(manual dir, {record id: stored example}, builder skip-report rows)."""
  root = tmp_path_factory.mktemp('parity')
  manual = root / 'manual'
  defects.write_defects(manual, _KEPT + _SKIPPED)
  (root / 'splits' / 'mesa').mkdir(parents=True)
  (root / 'splits' / 'mesa' / 'train.txt').write_text(''.join(
      f'{defects.record_id(i)}\n' for i in _KEPT + _SKIPPED))
  builder = mesa_dataset_builder.Builder(
      data_dir=str(root / 'data'), split_dir=str(root / 'splits'))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)),
      file_format='array_record')
  source = builder.as_data_source()['train']
  examples = {source[i]['record_id'].decode(): source[i] for i in range(len(source))}
  with open(pathlib.Path(builder.data_dir) / 'skipped.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  return manual, examples, rows


def _edf(manual: pathlib.Path, index: int) -> pathlib.Path:
  return next(manual.rglob(f'{defects.record_id(index)}.edf'))


def test_stored_example_equals_predict_input(built):
  manual, examples, _ = built
  assert sorted(examples) == sorted(defects.record_id(i) for i in _KEPT)
  absent = padded = 0
  for index in _KEPT:
    example = examples[defects.record_id(index)]
    night = input_files.read_input(_edf(manual, index), SIGNALS)
    assert int(example['num_epochs']) == night.num_epochs
    np.testing.assert_array_equal(example['labels'], night.labels)
    padded += int((night.labels < 0).any())
    for name in SIGNALS:
      key = signals_lib.feature_key(name)
      assert bool(example['present'][key]) == (name in night.signals), (index, name)
      if name in night.signals:
        stored = np.asarray(example['signals'][key])
        assert stored.dtype == night.signals[name].dtype == np.float32
        np.testing.assert_array_equal(stored, night.signals[name], err_msg=f'{index} {name}')
      else:
        absent += 1
  assert absent == 2 and padded >= 1  # The comparison covered absence and padding.


def test_same_reasons_for_the_same_defect(built):
  manual, _, rows = built
  by_id = {r['record_id']: r for r in rows if r['action'] == 'night skipped'}
  # No usable signal: both skip the night, at the same stage, for the same reason.
  row = by_id[defects.record_id(12)]
  with pytest.raises(errors.PsgError) as raised:
    input_files.read_input(_edf(manual, 12), SIGNALS)
  assert (raised.value.stage, raised.value.reason) == (row['stage'], row['reason'])
  assert row['stage'] == 'channel'
  # Malformed annotation: the builder skips the night, predict stages it unscored.
  row = by_id[defects.record_id(8)]
  night = input_files.read_input(_edf(manual, 8), SIGNALS)
  ignored = [e for e in night.entries if e.action == night_lib.LABELS_IGNORED]
  assert night.labels is None
  assert [(e.stage, e.reason) for e in ignored] == [(row['stage'], row['reason'])]
