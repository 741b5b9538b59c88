"""Tests for the skip report."""

import csv
import json

import numpy as np
import pytest

from wav2sleep_jax.psg import edf
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import skip_report


def _recording_with_problems():
  return edf.Recording(
      path='shhs1-200002.edf',
      start=None,
      duration_s=300.0,
      channels={'THX': edf.Channel(np.ones(3000, np.float32), 10.0, 'THOR RES', '', (-1.0, 1.0))},
      problems=(edf.ChannelProblem('ECG', 'ECG', 'physical max is 0'),
                edf.ChannelProblem('PPG', None, 'no channel labelled any of [PPG]')),
      labels=('ECG', 'THOR RES'))


def test_report_collects_writes_and_summarises(tmp_path):
  rep = skip_report.SkipReport()
  rep.add_error('shhs1-200001', errors.AnnotationError('a/shhs1-200001-nsrr.xml', 'unknown stage'))
  rep.add_error('shhs1-200003', errors.RecordingError('b.edf', 'truncated EDF'))
  rep.add_channel_problems('shhs1-200002', _recording_with_problems())
  rep.add('shhs1-200004', 'c.xml', 'exclusion', 'sleep/wake-only scoring',
          skip_report.NIGHT_SKIPPED)
  assert len(rep) == 5
  assert rep.summary() == {
      'annotation: night skipped': 1,
      'channel: channel absent': 2,
      'edf: night skipped': 1,
      'exclusion: night skipped': 1,
      'nights skipped': 3
  }
  assert rep.summary_text().startswith('3 nights skipped; 5 entries (')

  csv_path, json_path = rep.write(tmp_path / 'dataset', name='skips')
  with open(csv_path, newline='') as f:
    rows = list(csv.DictReader(f))
  assert rows[0] == {
      'record_id': 'shhs1-200001',
      'path': 'a/shhs1-200001-nsrr.xml',
      'stage': 'annotation',
      'reason': 'unknown stage',
      'action': 'night skipped'
  }
  assert rows[2]['reason'] == "ECG (label 'ECG'): physical max is 0"
  with open(json_path) as f:
    data = json.load(f)
  assert data['summary']['nights skipped'] == 3 and len(data['entries']) == 5
  assert skip_report.SkipReport.read_csv(csv_path).entries == rep.entries


def test_report_merge_and_validation():
  a, b = skip_report.SkipReport(), skip_report.SkipReport()
  a.add('x', 'x.edf', 'edf', 'bad', skip_report.NIGHT_SKIPPED)
  b.add('y', 'y.edf', 'edf', 'bad', skip_report.NIGHT_SKIPPED)
  a.extend(b)
  assert [e.record_id for e in a.entries] == ['x', 'y']
  with pytest.raises(ValueError, match='reason'):
    a.add('z', 'z.edf', 'edf', '', skip_report.NIGHT_SKIPPED)


def test_errors_are_picklable_and_name_the_file():
  import pickle
  err = pickle.loads(pickle.dumps(errors.RecordingError('n.edf', 'truncated')))
  assert isinstance(err, errors.RecordingError)
  assert (err.path, err.reason, str(err)) == ('n.edf', 'truncated', 'n.edf: truncated')
  assert err.stage == 'edf' and errors.AnnotationError('a', 'b').stage == 'annotation'
