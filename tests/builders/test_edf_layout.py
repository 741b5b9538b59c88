"""A build skips EDFs whose header no longer matches the data, with the reason."""

import csv
import pathlib

import pytest
import tensorflow_datasets as tfds

from wav2sleep_jax.builders import nsrr_builder
from tfds_builders.mesa import mesa_dataset_builder
from wav2sleep_jax import synthetic
from wav2sleep_jax.synthetic import edf_writer
from wav2sleep_jax.synthetic import writers

HOURS = 0.1  # 12 epochs.
GOOD = (0, 1)
# Night index -> (header edit, text expected in the skip reason or None if kept).
EDITS = {
    2: ('samples per record +1', 'file has'),
    3: ('samples per record -1', 'header does not match the data'),
    4: ('record duration 0', 'data record duration is 0 s'),
    5: ('ECG range overflows float32', None),
}


def _patch(path: pathlib.Path, edit: str) -> None:
  """Changes one header field in place, leaving the data as it is."""
  raw = bytearray(path.read_bytes())
  ns = int(raw[252:256])
  labels = [raw[256 + 16 * i:256 + 16 * (i + 1)].decode().strip() for i in range(ns)]
  i = labels.index('EKG')
  if edit.startswith('samples per record'):
    at = 256 + 216 * ns + 8 * i
    old = int(raw[at:at + 8])
    raw[at:at + 8] = str(old + (1 if edit.endswith('+1') else -1)).encode().ljust(8)
  elif edit == 'record duration 0':
    raw[244:252] = b'0       '
  else:
    at = 256 + 112 * ns + 8 * i  # Physical max.
    raw[at:at + 8] = b'1e39    '
  path.write_bytes(bytes(raw))


def _record_id(index: int) -> str:
  return synthetic.COHORTS['mesa'].record_id(index)


@pytest.fixture(scope='module')
def build(tmp_path_factory):
  root = tmp_path_factory.mktemp('mesa_layout')
  for index in GOOD + tuple(EDITS):
    night = synthetic.generate_night('mesa', seed=0, night_index=index, hours=HOURS)
    paths = writers.write_night(night, str(root), edf_writer.Defects())
    if index in EDITS:
      _patch(pathlib.Path(paths['edf']), EDITS[index][0])
  builder = mesa_dataset_builder.Builder(
      data_dir=str(tmp_path_factory.mktemp('data')),
      config=nsrr_builder.NsrrConfig(name='layout', split_sizes=(1, 0, 0)))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(root)),
      file_format='array_record')
  return builder


def test_mismatched_headers_are_skipped_with_the_reason(build):
  with open(f'{build.data_dir}/skipped.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  source = build.as_data_source()['train']
  stored = {source[i]['record_id'].decode(): source[i] for i in range(len(source))}
  for index, (edit, reason) in EDITS.items():
    rid = _record_id(index)
    mine = [r for r in rows if r['record_id'] == rid]
    if reason is None:
      continue
    assert rid not in stored, edit
    assert any(r['stage'] == 'edf' and reason in r['reason'] and r['action'] == 'night skipped'
               for r in mine), (edit, mine)
  overflow = _record_id(5)
  assert overflow in stored and not stored[overflow]['present']['ECG']
  assert any('overflows float32' in r['reason'] and r['action'] == 'channel absent'
             for r in rows
             if r['record_id'] == overflow), rows
  assert {_record_id(i) for i in GOOD} <= set(stored)
