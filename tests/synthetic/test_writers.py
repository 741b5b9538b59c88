"""Files on disk: NSRR layout per cohort, EDF headers/rates, NSRR XML and WSC text round trips."""

import datetime
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import edfio
import mne
import numpy as np
import pytest

from wav2sleep_jax import synthetic
from wav2sleep_jax.psg import annotations
from wav2sleep_jax.synthetic import edf_writer
from wav2sleep_jax.synthetic import layouts
from wav2sleep_jax.synthetic import writers

EXPECTED = {  # cohort: (first record id, EDF path, annotation path)
    'shhs': ('shhs1-200001', 'polysomnography/edfs/shhs1/shhs1-200001.edf',
             'polysomnography/annotations-events-nsrr/shhs1/shhs1-200001-nsrr.xml'),
    'mesa': ('mesa-sleep-0001', 'polysomnography/edfs/mesa-sleep-0001.edf',
             'polysomnography/annotations-events-nsrr/mesa-sleep-0001-nsrr.xml'),
    'cfs': ('cfs-visit5-800001', 'polysomnography/edfs/cfs-visit5-800001.edf',
            'polysomnography/annotations-events-nsrr/cfs-visit5-800001-nsrr.xml'),
    'ccshs': ('ccshs-trec-1800001', 'polysomnography/edfs/ccshs-trec-1800001.edf',
              'polysomnography/annotations-events-nsrr/ccshs-trec-1800001-nsrr.xml'),
    'chat': ('chat-baseline-300001', 'polysomnography/edfs/baseline/chat-baseline-300001.edf',
             'polysomnography/annotations-events-nsrr/baseline/chat-baseline-300001-nsrr.xml'),
    'mros': ('mros-visit1-aa0001', 'polysomnography/edfs/visit1/mros-visit1-aa0001.edf',
             'polysomnography/annotations-events-nsrr/visit1/mros-visit1-aa0001-nsrr.xml'),
    'wsc': ('wsc-visit1-10001-nsrr', 'polysomnography/wsc-visit1-10001-nsrr.edf',
            'polysomnography/wsc-visit1-10001-nsrr.stg.txt'),
}
MODEL_LABELS = {  # Labels of ECG / PPG / THX / ABD per cohort (None: absent).
    'shhs': ('ECG', None, 'THOR RES', 'ABDO RES'), 'mesa': ('EKG', 'Pleth', 'Thor', 'Abdo'),
    'cfs': ('ECG1', 'PlethWV', 'THOR EFFORT', 'ABDO EFFORT'),
    'ccshs': ('ECG1', 'PlethWV', 'THOR EFFORT', 'ABDO EFFORT'),
    'chat': ('ECG1', 'PlethMasimo|PlethNellcor|Pleth', 'Chest', 'ABD'),
    'mros': ('ECG L', None, 'Thoracic', 'Abdominal'), 'wsc': ('ECG', None, 'thorax', 'abdomen'),
}
NSRR_TO_LABEL = {
    'Wake|0': 0,
    'Stage 1 sleep|1': 1,
    'Stage 2 sleep|2': 2,
    'Stage 3 sleep|3': 3,
    'Stage 4 sleep|4': 3,
    'REM sleep|5': 4,
    'Unscored|9': -1
}
CODE_TO_LABEL = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 7: -1, 9: -1}


def _expand_xml(path, n_epochs):
  root = ET.parse(path).getroot()
  labels = np.full(n_epochs, -1, dtype=np.int8)
  clock = None
  for e in root.iter('ScoredEvent'):
    concept = e.findtext('EventConcept')
    if concept == 'Recording Start Time':
      clock = e.findtext('ClockTime')
    if e.findtext('EventType') == 'Stages|Stages':
      start, dur = float(e.findtext('Start')), float(e.findtext('Duration'))
      assert dur % 30 == 0
      labels[int(start // 30):int((start + dur) // 30)] = NSRR_TO_LABEL[concept]
  return labels, clock, root


NSRR = sorted(
    c for c, s in layouts.COHORTS.items() if s.annotation_format not in layouts.OPEN_FORMATS)
OPEN_EXPECTED = {  # Open datasets: first record's files (PhysioNet layouts).
    'cinc2018': ('training/tr03-0005/tr03-0005.hea', 'training/tr03-0005/tr03-0005.mat',
                 'training/tr03-0005/tr03-0005.arousal'),
    'hmc': ('recordings/SN001.edf', 'recordings/SN001_sleepscoring.edf'),
    'ucddb': ('ucddb002.rec', 'ucddb002_stage.txt'),
    'slpdb': ('slp01.hea', 'slp01.dat', 'slp01.st'),
}


@pytest.mark.parametrize('name', sorted(OPEN_EXPECTED))
def test_open_layout_files(tmp_path, name):
  ids = synthetic.write_cohort(name, 2, str(tmp_path), seed=0, hours=0.05)
  assert len(set(ids)) == 2
  written = sorted(
      os.path.relpath(os.path.join(d, f), tmp_path)
      for d, _, files in os.walk(tmp_path)
      for f in files)
  first = sorted(OPEN_EXPECTED[name])
  assert written[:len(first)] == first and len(written) == 2 * len(first)


@pytest.mark.parametrize('name', NSRR)
def test_layout_edf_and_annotations(tmp_path, name):
  ids = synthetic.write_cohort(name, 2, str(tmp_path), seed=0, hours=0.2)
  first_id, edf_rel, ann_rel = EXPECTED[name]
  assert ids[0] == first_id and len(set(ids)) == 2
  assert os.path.isfile(tmp_path / edf_rel) and os.path.isfile(tmp_path / ann_rel)
  night = synthetic.generate_night(name, seed=0, night_index=0, hours=0.2)

  edf = edfio.read_edf(tmp_path / edf_rel)
  spec = layouts.COHORTS[name]
  assert edf.num_signals == len(spec.channels)
  assert edf.startdate == datetime.date(1985, 1, 1)
  assert edf.starttime == night.start_time.time()
  by_label = {s.label: s for s in edf.signals}
  for ch in night.channels.values():
    sig = by_label[ch.label]
    assert sig.sampling_frequency == ch.rate and sig.physical_dimension == ch.unit
    np.testing.assert_allclose(
        sig.data, ch.data, atol=(ch.physical_range[1] - ch.physical_range[0]) / 60000)
  for wanted in MODEL_LABELS[name]:
    if wanted is not None:
      assert set(wanted.split('|')) & set(by_label), (name, wanted)
  assert 'SpO2' in {c.source for c in night.channels.values()}

  if spec.annotation_format == layouts.NSRR_XML:
    labels, clock, root = _expand_xml(tmp_path / ann_rel, len(night.labels))
    np.testing.assert_array_equal(labels, night.labels)
    assert clock == '00.00.00 ' + night.start_time.strftime('%H.%M.%S')
    assert root.findtext('EpochLength') == '30'
    text = (tmp_path / ann_rel).read_text()
    assert all(line.count('<') <= 2 for line in text.splitlines())  # One element per line.
    assert '<EventType>Stages|Stages</EventType>' in text
  else:
    rows = [l.split('\t') for l in (tmp_path / ann_rel).read_text().splitlines() if l[0].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(1, len(night.labels) + 1))
    np.testing.assert_array_equal([CODE_TO_LABEL[int(r[1])] for r in rows], night.labels)
    log_path = tmp_path / ann_rel.replace('.stg.txt', '.log.txt')
    log = log_path.read_text().splitlines()
    assert night.start_time.strftime('%H:%M:%S') + ' 1\tRecording Started' in log
    assert annotations.read_wsc_log_start(log_path) == night.start_time.time()
    hyp = annotations.read_wsc_stg(tmp_path / ann_rel, edf_start=night.start_time.time())
    np.testing.assert_array_equal(hyp.labels, night.labels)
    assert hyp.start_time == night.start_time.time()


def test_events_interleaved_and_concepts_known(tmp_path):
  night = synthetic.generate_night('shhs', seed=0, night_index=3, hours=3.0)
  path = tmp_path / 'x.xml'
  path.write_text(writers.nsrr_xml(night))
  root = ET.parse(path).getroot()
  types = [e.findtext('EventType') for e in root.iter('ScoredEvent')]
  assert 'Respiratory|Respiratory' in types and 'Arousals|Arousals' in types
  concepts = {
      e.findtext('EventConcept')
      for e in root.iter('ScoredEvent')
      if e.findtext('EventType') == 'Stages|Stages'
  }
  assert concepts <= set(NSRR_TO_LABEL)
  assert 'Stage 4 sleep|4' in concepts  # SHHS is scored with R&K.
  for e in root.iter('ScoredEvent'):
    if e.findtext('EventConcept') == 'SpO2 desaturation|SpO2 desaturation':
      assert float(e.findtext('SpO2Nadir')) < float(e.findtext('SpO2Baseline'))


def test_wsc_allscore_forward_fills_to_labels(tmp_path):
  night = synthetic.generate_night('wsc', seed=1, night_index=0, hours=1.0)
  text = writers.wsc_allscore(night)
  start = datetime.datetime.combine(night.start_time.date(), night.start_time.time())
  stage_map = {'W': 0, 'N1': 1, 'N2': 2, 'N3': 3, 'R': 4, 'NO STAGE': -1}
  labels = np.full(len(night.labels), -2)
  for line in text.splitlines():
    clock, what = line.split('\t')
    if what.startswith('STAGE - '):
      t = datetime.datetime.combine(start.date(), datetime.time.fromisoformat(clock))
      if t < start:
        t += datetime.timedelta(days=1)  # Midnight roll-over.
      labels[int((t - start).total_seconds() // 30):] = stage_map[what[8:]]
  np.testing.assert_array_equal(labels, night.labels)


def test_mne_reads_native_rates(tmp_path):
  synthetic.write_cohort('mesa', 1, str(tmp_path), hours=0.1)
  path = tmp_path / EXPECTED['mesa'][1]
  for label, rate in (('EKG', 256), ('Thor', 32), ('SpO2', 1)):
    raw = mne.io.read_raw_edf(path, include=[label], preload=True, verbose='error')
    assert raw.info['sfreq'] == rate and raw.ch_names == [label]


def test_defects(tmp_path):
  night = synthetic.generate_night('chat', seed=0, night_index=0, hours=0.1)
  path = str(tmp_path / 'defect.edf')
  edf_writer.write_edf(
      path, night,
      edf_writer.Defects(
          flat=('ECG2',), physical_max_zero=('SpO2',), ends_early_s=(('ECG1', 60.0),)))
  with open(path, 'rb') as f:
    head = f.read(256 + 256 * len(night.channels))
  ns = int(head[252:256])
  labels = [head[256 + 16 * i:256 + 16 * (i + 1)].decode().strip() for i in range(ns)]
  off = 256 + ns * (16 + 80 + 8 + 8)
  pmax = [float(head[off + 8 * i:off + 8 * (i + 1)]) for i in range(ns)]
  assert pmax[labels.index('SpO2')] == 0.0 and pmax[labels.index('ECG1')] > 0
  edf = edfio.read_edf(path)
  flat = edf.get_signal('ECG2').data
  assert np.all(flat == flat[0])
  ecg1 = edf.get_signal('ECG1').data
  assert ecg1[:60 * 256].std() > 0 and np.all(ecg1[60 * 256:] == ecg1[-1])


def test_cli_writes_files_and_summary(tmp_path):
  out = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.synthesize', '--cohort=cfs', '--nights=2',
      f'--output={tmp_path}', '--hours=0.1', '--seed=5'
  ],
                       capture_output=True,
                       text=True,
                       check=True,
                       cwd=os.path.join(os.path.dirname(__file__), '..', '..'))
  assert 'Wrote 2 cfs nights' in out.stdout
  for i in (1, 2):
    assert (tmp_path / f'polysomnography/edfs/cfs-visit5-80000{i}.edf').is_file()
  np.testing.assert_array_equal(
      _expand_xml(tmp_path / 'polysomnography/annotations-events-nsrr/cfs-visit5-800002-nsrr.xml',
                  12)[0],
      synthetic.generate_night('cfs', seed=5, night_index=1, hours=0.1).labels)


def test_runs_of_equal_codes():
  from wav2sleep_jax.core import stages

  assert stages.runs(np.array([], np.int8)) == []
  assert stages.runs(np.array([0, 0, 9, 9, 9, 5], np.int8)) == [(0, 2, 0), (2, 3, 9), (5, 1, 5)]
  assert stages.runs(np.array([True, False, False])) == [(0, 1, 1), (1, 2, 0)]


def test_open_writers_do_not_import_the_nsrr_writers():
  import ast
  import inspect

  from wav2sleep_jax.synthetic import open_writers

  tree = ast.parse(inspect.getsource(open_writers))
  names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
  assert 'writers' not in names
