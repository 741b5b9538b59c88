"""Each output format read back by its real consumer: yasa, mne, the NSRR parser, csv/json."""

from __future__ import annotations

import csv
import datetime
import json
from xml.etree import ElementTree

import edfio
import numpy as np
import pytest

from wav2sleep_jax.core import stages
from wav2sleep_jax.inference import hypnogram_formats
from wav2sleep_jax.inference import sleep_stats
from wav2sleep_jax.inference.night_prediction import NightPrediction
from wav2sleep_jax.psg import annotations

START = datetime.datetime(2021, 3, 4, 22, 47, 30)


def _night(num_classes=5, epochs=97, labels=True, start=START, seed=0):
  rng = np.random.default_rng(seed)
  # Sticky stages so that runs of equal stages occur, as in real nights.
  stages_S = np.repeat(rng.integers(0, num_classes, epochs // 4 + 1), 4)[:epochs]
  logits_SK = rng.standard_normal((epochs, num_classes)) + 4.0 * np.eye(num_classes)[stages_S]
  labels_S = None
  if labels:
    labels_S = np.where(rng.random(epochs) < 0.1, -1, stages_S).astype(np.int8)
  return NightPrediction(
      logits_SK.astype(np.float32),
      stages.stage_names(num_classes),
      labels_S=labels_S,
      start=start,
      name='sub/n1',
      signals=('ECG', 'THX'))


@pytest.mark.parametrize('num_classes', [4, 5])
def test_tsv_rows_per_epoch_and_sidecar(tmp_path, num_classes):
  night = _night(num_classes)
  tsv, sidecar = hypnogram_formats.write_tsv(night, tmp_path / 'a' / 'n1_hypnogram.tsv')
  assert sidecar.endswith('n1_hypnogram.json')
  with open(tsv, newline='') as f:
    rows = list(csv.DictReader(f, delimiter='\t'))
  codes = hypnogram_formats.stage_codes(night.stage_names)
  assert list(
      rows[0]) == ['onset', 'duration', 'stage', 'scored_stage'] + [f'prob_{c}' for c in codes]
  assert len(rows) == night.num_epochs
  assert [float(r['onset']) for r in rows] == [30.0 * i for i in range(night.num_epochs)]
  assert {r['duration'] for r in rows} == {'30'}
  assert [codes.index(r['stage']) for r in rows] == night.stages_S.tolist()
  scored = [r['scored_stage'] for r in rows]
  assert scored == [codes[s] if s >= 0 else 'n/a' for s in night.labels_S]
  probs = np.array([[float(r[f'prob_{c}']) for c in codes] for r in rows])
  np.testing.assert_allclose(probs, night.probabilities_SK, atol=1e-5)
  meta = json.loads(open(sidecar).read())
  assert set(meta['stage']['Levels']) == set(codes)
  assert meta['onset']['Units'] == 's' and meta['EpochLength'] == 30
  assert meta['RecordingStart'] == '2021-03-04T22:47:30'
  assert meta['Model']['Classes'] == list(night.stage_names)
  assert all(f'prob_{c}' in meta for c in codes)
  if num_classes == 5:
    assert codes == ['W', 'N1', 'N2', 'N3', 'R']
  else:
    assert codes == ['W', 'L', 'N3', 'R'] and 'N1 or N2' in meta['stage']['Levels']['L']


@pytest.mark.parametrize('num_classes', [4, 5])
def test_edf_annotations_read_by_mne(tmp_path, num_classes):
  import mne

  night = _night(num_classes)
  path = hypnogram_formats.write_edf_annotations(night, tmp_path / 'n1.annotations.edf')
  read = mne.read_annotations(path)
  np.testing.assert_allclose(read.onset, 30.0 * np.arange(night.num_epochs))
  np.testing.assert_allclose(read.duration, 30.0)
  texts = {
      'Wake': 'Sleep stage W',
      'N1': 'Sleep stage N1',
      'N2': 'Sleep stage N2',
      'N3': 'Sleep stage N3',
      'REM': 'Sleep stage R',
      'Light': 'Sleep stage L',
      'Deep': 'Sleep stage N3'
  }
  assert list(read.description) == [texts[n] for n in night.stage_names_S]
  edf = edfio.read_edf(path)
  assert edf.num_signals == 0 and edf.startdate == START.date()
  assert edf.starttime == START.time()
  with open(path, 'rb') as f:
    assert f.read(256)[192:197] == b'EDF+C'


def test_edf_without_start_time_or_outside_edf_dates(tmp_path):
  import mne

  night = _night(start=None)
  read = mne.read_annotations(hypnogram_formats.write_edf_annotations(night, tmp_path / 'x.edf'))
  assert len(read) == night.num_epochs
  old = _night(start=datetime.datetime(1980, 2, 3, 23, 30, 0))
  path = hypnogram_formats.write_edf_annotations(old, tmp_path / 'old.edf')
  edf = edfio.read_edf(path)
  assert edf.starttime == datetime.time(23, 30)
  with open(path, 'rb') as f:
    assert b'Startdate X' in f.read(256)  # Unknown, not a wrong date.
  assert len(mne.read_annotations(path)) == old.num_epochs


def test_nsrr_xml_round_trip_through_the_parser(tmp_path):
  night = _night(5)
  path = hypnogram_formats.write_nsrr_xml(night, tmp_path / 'n1.nsrr.xml')
  hyp = annotations.read_nsrr_xml(path)
  np.testing.assert_array_equal(hyp.labels, night.stages_S)
  assert hyp.start_time == START.time()
  root = ElementTree.parse(path).getroot()
  events = root.find('ScoredEvents').findall('ScoredEvent')
  stage_events = [e for e in events if e.findtext('EventType') == 'Stages|Stages']
  changes = 1 + int(np.count_nonzero(np.diff(night.stages_S)))
  assert len(stage_events) == changes  # One event per run of equal stages.
  assert {e.findtext('EventConcept') for e in stage_events
         } <= {'Wake|0', 'Stage 1 sleep|1', 'Stage 2 sleep|2', 'Stage 3 sleep|3', 'REM sleep|5'}
  assert events[0].findtext('EventConcept') == 'Recording Start Time'
  assert float(events[0].findtext('Duration')) == 30.0 * night.num_epochs


def test_nsrr_xml_four_classes_marks_light_sleep(tmp_path):
  night = _night(4)
  path = hypnogram_formats.write_nsrr_xml(night, tmp_path / 'n4.nsrr.xml')
  root = ElementTree.parse(path).getroot()
  got = []
  for e in root.iter('ScoredEvent'):
    if e.findtext('EventType') == 'Stages|Stages':
      got += [e.findtext('EventConcept')] * round(float(e.findtext('Duration')) / 30)
  concepts = {
      'Wake': 'Wake|0',
      'Light': 'Light sleep (N1 or N2)|L',
      'Deep': 'Stage 3 sleep|3',
      'REM': 'REM sleep|5'
  }
  assert got == [concepts[n] for n in night.stage_names_S]


@pytest.mark.parametrize('num_classes', [4, 5])
def test_to_yasa(num_classes):
  night = _night(num_classes)
  hyp = night.to_yasa()
  labels = [n.upper() for n in night.stage_names]
  assert hyp.n_stages == num_classes and hyp.freq == '30s' and hyp.scorer == 'wav2sleep'
  assert hyp.start == START
  assert hyp.hypno.tolist() == [labels[s] for s in night.stages_S]
  assert list(hyp.proba.columns) == labels
  np.testing.assert_allclose(hyp.proba.to_numpy(), night.probabilities_SK, atol=1e-6)
  theirs = hyp.sleep_statistics()
  ours = sleep_stats.sleep_statistics(night.stages_S, night.stage_names).as_yasa()
  for key, value in theirs.items():
    assert ours[key] == pytest.approx(float(value), abs=6e-5, nan_ok=True), key
  scored = night.to_yasa(scored=True)
  assert scored.proba is None and scored.scorer == 'scored'
  assert scored.hypno.tolist() == [labels[s] if s >= 0 else 'UNS' for s in night.labels_S]
  with pytest.raises(ValueError, match='no scored labels'):
    _night(labels=False).to_yasa(scored=True)


def test_unknown_classes_are_refused():
  with pytest.raises(ValueError, match='No stage code'):
    hypnogram_formats.stage_codes(('Wake', 'Sleep'))


def test_copy_of_the_input_edf_with_stages(tmp_path):
  import mne
  from tests import predict_testutil as util

  _, source = util.write_night(tmp_path / 'in', 'shhs', hours=0.25, labels=('ECG', 'THOR RES'))
  night = _night(5, epochs=30, labels=False)
  path = hypnogram_formats.write_edf_with_stages(night, source, tmp_path / 'merged.edf')
  merged = mne.io.read_raw_edf(path, verbose='error')
  original = mne.io.read_raw_edf(source, verbose='error')
  np.testing.assert_array_equal(merged.get_data(), original.get_data())
  assert merged.ch_names == original.ch_names
  stages_only = [a for a in merged.annotations if a['description'].startswith('Sleep stage')]
  assert [a['onset'] for a in stages_only] == [30.0 * i for i in range(30)]
  assert [a['description'][12:] for a in stages_only
         ] == [hypnogram_formats.stage_codes(night.stage_names)[s] for s in night.stages_S]
  with pytest.raises(ValueError, match='shorter than the 3000 s'):
    hypnogram_formats.write_edf_with_stages(_night(5, epochs=100), source, tmp_path / 'x.edf')
