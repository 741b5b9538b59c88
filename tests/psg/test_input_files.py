"""Reading prediction inputs: EDF (NSRR layouts), CSV and parquet, and their defects."""

from __future__ import annotations

import numpy as np
import pytest

from wav2sleep_jax import synthetic
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import input_files
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import night as night_lib
from tests import predict_testutil as util

ALL = ('ECG', 'PPG', 'ABD', 'THX')
HOURS = 0.25  # 30 epochs.


def _reasons(night, action):
  return [e.reason for e in night.entries if e.action == action]


def test_nsrr_layout_signals_labels_and_start(tmp_path):
  night, edf = util.write_night(tmp_path, 'mesa', hours=HOURS)
  x = input_files.read_input(edf, ALL, name='n')
  assert x.kind == night_lib.EDF and x.num_epochs == 30 and x.name == 'n'
  assert {
      n: v.shape for n, v in x.signals.items()
  } == {
      'ECG': (30 * 1024,),
      'PPG': (30 * 1024,),
      'ABD': (30 * 256,),
      'THX': (30 * 256,)
  }
  assert x.native_rate_hz == {'ECG': 256.0, 'PPG': 256.0, 'ABD': 32.0, 'THX': 32.0}
  np.testing.assert_array_equal(x.labels, night.labels)
  assert x.start == night.start_time and x.entries == ()
  assert input_files.read_input(edf, ALL, with_labels=False).labels is None


def test_wsc_labels_and_absent_signal_reported(tmp_path):
  night, edf = util.write_night(tmp_path, 'wsc', hours=HOURS)
  x = input_files.read_input(edf, ALL)
  np.testing.assert_array_equal(x.labels, night.labels)
  assert set(x.signals) == {'ECG', 'ABD', 'THX'}
  assert [r[:30] for r in _reasons(x, 'channel absent')] == ['PPG: no channel labelled any o']


def test_channel_map(tmp_path):
  _, edf = util.write_night(
      tmp_path, 'shhs', hours=HOURS, labels=('ECG', 'THOR RES'), relabel={'ECG': 'Heart'})
  default = input_files.read_input(edf, ('ECG', 'THX'))
  assert set(default.signals) == {'THX'}
  mapped = input_files.read_input(
      edf, ('ECG', 'THX'), channel_map=input_files.parse_channel_map(['ECG=Lead II', 'ECG=Heart']))
  assert set(mapped.signals) == {'ECG', 'THX'} and mapped.entries == ()
  # A mapped signal is looked up only under its labels.
  only = input_files.read_input(edf, ('ECG', 'THX'), channel_map={'THX': ('Heart',)})
  assert only.native_rate_hz == {'THX': 125.0}


@pytest.mark.parametrize('items, message', [(['ECG'], 'not SIGNAL=LABEL'),
                                            (['ECG='], 'not SIGNAL=LABEL'),
                                            (['EEG=C3'], 'unknown signal')])
def test_parse_channel_map_errors(items, message):
  with pytest.raises(ValueError, match=message):
    input_files.parse_channel_map(items)


def test_defects_are_reported_or_raised(tmp_path):
  _, edf = util.write_night(
      tmp_path,
      'mesa',
      hours=HOURS,
      labels=('EKG', 'Thor'),
      defects=synthetic.Defects(flat=('EKG',)))
  xml = cohort_files.find_annotation(edf)[1]
  with open(xml, 'w') as f:
    f.write('<PSGAnnotation><ScoredEvents>')  # Malformed.
  x = input_files.read_input(edf, ALL)
  assert set(x.signals) == {'THX'} and x.labels is None
  assert any("ECG (label 'EKG'): flat line" in r for r in _reasons(x, 'channel absent'))
  assert any('malformed XML' in r for r in _reasons(x, night_lib.LABELS_IGNORED))
  with pytest.raises(errors.RecordingError, match='no usable signal'):
    input_files.read_input(edf, ('ECG', 'PPG'))

  corrupt = tmp_path / 'corrupt.edf'
  corrupt.write_bytes(b'this is not an EDF file' * 20)
  with pytest.raises(errors.RecordingError, match='not an EDF'):
    input_files.read_input(corrupt, ALL)
  short = util.write_short_edf(tmp_path / 'short.edf', seconds=20)
  with pytest.raises(errors.RecordingError, match='less than one 30-s epoch'):
    input_files.read_input(short, ALL)


@pytest.mark.parametrize('suffix', ['.csv', '.parquet'])
def test_tables(tmp_path, suffix):
  columns = util.table_signals(epochs=4, rate=64.0, names=('ECG', 'THX', 'ABD'))
  columns['ABD'][:] = np.nan  # Empty column: absent.
  columns['ECG'][100:120] = np.nan  # Gap: interpolated.
  columns['note'] = np.array(['x'] * len(columns['time']), dtype=object)
  path = util.write_table(tmp_path / f'night{suffix}', columns)
  x = input_files.read_input(path, ('ECG', 'THX', 'ABD'))
  assert x.kind == suffix[1:] and x.num_epochs == 4 and x.start is None and x.labels is None
  assert {n: v.shape for n, v in x.signals.items()} == {'ECG': (4096,), 'THX': (1024,)}
  assert all(np.isfinite(v).all() for v in x.signals.values())
  assert x.native_rate_hz == {'ECG': 64.0, 'THX': 64.0}
  assert any(
      r.startswith("ABD (column 'ABD'): all samples are NaN")
      for r in _reasons(x, 'channel absent'))
  renamed = input_files.read_input(path, ('ECG', 'THX'), channel_map={'ECG': ('note',)})
  assert set(renamed.signals) == {'THX'}
  assert any('not numeric' in r for r in _reasons(renamed, 'channel absent'))


@pytest.mark.parametrize('change, message', [
    (lambda c: c.pop('time'), "no numeric 'time' column"),
    (lambda c: c['time'].__setitem__(5, 99.0), 'not uniformly increasing'),
    (lambda c: [c.__setitem__(k, v[:100]) for k, v in list(c.items())], 'less than one'),
])
def test_bad_tables(tmp_path, change, message):
  columns = util.table_signals(epochs=2, rate=32.0)
  change(columns)
  path = util.write_table(tmp_path / 'bad.csv', columns)
  with pytest.raises(errors.RecordingError, match=message):
    input_files.read_input(path, ('ECG', 'THX'))


def test_find_inputs(tmp_path):
  for rel in ('a/x.edf', 'a/x.csv', 'b/y.EDF', 'c/z.parquet', 'c/z.preds.csv', 'summary.csv',
              'out/a/q.edf', 'notes.txt', 'd/slp04.hea', 'd/slp04.dat', 'd/slp04.st', 'e/SN001.edf',
              'e/SN001_sleepscoring.edf', 'f/ucddb002.rec'):
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_bytes(b'')
  found = input_files.find_inputs(tmp_path, exclude=tmp_path / 'out')
  assert [name for _, name in found
         ] == ['a/x.csv', 'a/x.edf', 'b/y', 'c/z', 'd/slp04', 'e/SN001', 'f/ucddb002']
  assert [n for _, n in input_files.find_inputs(tmp_path, ('edf',), tmp_path / 'out')
         ] == ['a/x', 'b/y', 'e/SN001', 'f/ucddb002']  # Never the HMC scoring EDF.
  assert [n for _, n in input_files.find_inputs(tmp_path, ('wfdb',))] == ['d/slp04']
  assert input_files.find_inputs(tmp_path / 'b' / 'y.EDF') == [(str(tmp_path / 'b' / 'y.EDF'), 'y')]
  with pytest.raises(ValueError, match='Unknown input formats'):
    input_files.find_inputs(tmp_path, ('xml',))
  with pytest.raises(FileNotFoundError):
    input_files.find_inputs(tmp_path / 'missing')
