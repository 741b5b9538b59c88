"""WFDB `.st` stage parsing (the `wfdb` package's decoder), checked epoch by epoch on real
MIT-BIH slpdb files."""

import collections
import csv
import datetime
import shutil
import struct

import numpy as np
import pytest

from wav2sleep_jax.psg import annotations
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import wfdb

_AASM = {'W': 0, 'N1': 1, 'N2': 2, 'N3': 3, 'REM': 4, 'UNK': -1}
# Counts from SOURCES.md (AASM-mapped), an independent check of the mapping.
_COUNTS = {
    'slp04': {
        0: 162,
        1: 60,
        2: 442,
        3: 33,
        4: 23
    },
    'slp41': {
        0: 229,
        1: 230,
        2: 218,
        3: 13,
        4: 90
    },
    'slp45': {
        0: 119,
        1: 54,
        2: 399,
        3: 103,
        4: 81,
        -1: 4
    },
}
_STARTS = {
    'slp04': datetime.time(0, 5, 30),
    'slp41': datetime.time(23, 51, 30),
    'slp45': datetime.time(0, 15, 0)
}


def _expected(csv_path):
  with open(csv_path, newline='') as f:
    rows = list(csv.DictReader(f))
  epochs = [round(float(r['epoch_onset_s']) / 30) for r in rows]
  assert epochs == list(range(len(rows)))
  return np.array([_AASM[r['stage_aasm']] for r in rows], dtype=np.int8)


@pytest.mark.parametrize('record', ['slp04', 'slp41', 'slp45'])
def test_real_slpdb_stages_match_derived_csv(shared_dir, record):
  folder = shared_dir / 'data' / 'real' / 'mitbih_slpdb'
  hyp = annotations.read_wfdb_stages(folder / f'{record}.st')
  expected = _expected(folder / 'derived' / f'{record}_stages.csv')
  assert hyp.labels.shape == expected.shape
  mismatches = np.flatnonzero(hyp.labels != expected)
  assert mismatches.size == 0, f'{record}: epochs {mismatches[:10]} differ'
  assert dict(collections.Counter(hyp.labels.tolist())) == _COUNTS[record]
  assert hyp.start_time == _STARTS[record]
  # Explicit rate: same labels, no header needed.
  again = annotations.read_wfdb_stages(folder / f'{record}.st', sampling_rate_hz=250)
  np.testing.assert_array_equal(again.labels, hyp.labels)


def test_missing_header_needs_rate(shared_dir, tmp_path):
  source = shared_dir / 'data' / 'real' / 'mitbih_slpdb' / 'slp04.st'
  path = tmp_path / 'slp04.st'
  shutil.copyfile(source, path)  # Temporary copy only, outside the project.
  with pytest.raises(errors.AnnotationError, match='sampling_rate_hz'):
    annotations.read_wfdb_stages(path)
  # Truncated inside an aux string, and between two annotations.
  for cut, message in ((102, 'no end-of-file'), (100, 'no end-of-file'), (101, 'odd number')):
    path.write_bytes(source.read_bytes()[:cut])
    with pytest.raises(errors.AnnotationError, match=message) as info:
      annotations.read_wfdb_stages(path, sampling_rate_hz=250)
    assert 'slp04.st' in str(info.value)


def _word(code, value):
  return struct.pack('<H', (code << 10) | value)


def _note(interval, aux):
  """A NOTE (code 22) annotation `interval` samples later, with aux text."""
  out = b''
  if interval > 1023:
    out += _word(59, 0) + struct.pack('<HH', interval >> 16, interval & 0xFFFF)
    interval = 0
  data = aux.encode()
  out += _word(22, interval) + _word(63, len(data)) + data + b'\0' * (len(data) % 2)
  return out


def test_synthetic_annotations_decode(tmp_path):
  path = tmp_path / 'rec.st'
  path.write_bytes(
      _note(0, 'W') + _note(7500, '4 OA') + _note(15000, 'MT') + _note(7500, 'R') + _word(0, 0))
  anns = wfdb.read_annotations(path)
  assert [(a.sample, a.aux) for a in anns] == [(0, 'W'), (7500, '4 OA'), (22500, 'MT'),
                                               (30000, 'R')]
  hyp = annotations.read_wfdb_stages(path, sampling_rate_hz=250)
  np.testing.assert_array_equal(hyp.labels, [0, 3, -1, -1, 4])  # Gap -> -1.


@pytest.mark.parametrize('content, message', [
    (_note(0, 'W') + _note(7500, 'X') + _word(0, 0), "unknown stage 'X'"),
    (_note(0, 'W') + _note(10, '2') + _word(0, 0), 'two stage annotations in epoch 0'),
    (b'\x01', 'odd number of bytes'),
    (_word(0, 0), 'no stage annotations'),
])
def test_bad_wfdb_annotations_raise(tmp_path, content, message):
  path = tmp_path / 'bad.st'
  path.write_bytes(content)
  with pytest.raises(errors.AnnotationError, match=message):
    annotations.read_wfdb_stages(path, sampling_rate_hz=250)
