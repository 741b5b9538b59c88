"""Tests for the NSRR / Profusion XML and WSC text stage parsers."""

import datetime
import textwrap

import numpy as np
import pytest

import psg_testutil
from wav2sleep_jax.psg import annotations
from wav2sleep_jax.psg import edf
from wav2sleep_jax.psg import errors


def _event(event_type, concept, start, duration, extra=''):
  return textwrap.dedent(f"""\
      <ScoredEvent>
      <EventType>{event_type}</EventType>
      <EventConcept>{concept}</EventConcept>
      <Start>{start}</Start>
      <Duration>{duration}</Duration>{extra}
      </ScoredEvent>
      """)


def _stage(concept, start, duration):
  return _event('Stages|Stages', concept, start, duration)


def _nsrr_xml(tmp_path, *events, name='shhs1-200001-nsrr.xml', epoch_length=30):
  head = textwrap.dedent(f"""\
      <?xml version="1.0" encoding="UTF-8" standalone="no"?>
      <PSGAnnotation>
      <SoftwareVersion>Compumedics</SoftwareVersion>
      <EpochLength>{epoch_length}</EpochLength>
      <ScoredEvents>
      """)
  path = tmp_path / name
  path.write_text(head + ''.join(events) + '</ScoredEvents>\n</PSGAnnotation>\n')
  return path


_START = _event('', 'Recording Start Time', 0, 32520.0,
                '\n<ClockTime>00.00.00 22.00.00</ClockTime>')
_HYPOPNEA = _event('Respiratory|Respiratory', 'Hypopnea|Hypopnea', 304, 13,
                   '\n<SignalLocation>ABDO RES</SignalLocation>')
_AROUSAL = _event('Arousals|Arousals', 'Arousal|Arousal ()', 95.5, 4.2)


def test_nsrr_unsorted_interleaved(tmp_path):
  path = _nsrr_xml(
      tmp_path,
      _START,
      _stage('Stage 2 sleep|2', 150, 60.0),  # epochs 5-6
      _HYPOPNEA,
      _stage('Wake|0', 0, 90.0),  # epochs 0-2
      _AROUSAL,
      _stage('Stage 1 sleep|1', 90, 30),  # epoch 3; epoch 4 is a gap
      _stage('Stage 4 sleep|4', 210, 30),
      _stage('Stage 3 sleep|3', 240, 30),
      _stage('REM sleep|5', 270, 60),
      _stage('Movement|6', 330, 30),
      _stage('Unscored|9', 360, 30),
  )
  hyp = annotations.read_nsrr_xml(path)
  assert hyp.labels.dtype == np.int8
  np.testing.assert_array_equal(hyp.labels, [0, 0, 0, 1, -1, 2, 2, 3, 3, 4, 4, -1, -1])
  assert hyp.start_time == datetime.time(22, 0, 0)


def test_nsrr_without_start_time(tmp_path):
  hyp = annotations.read_nsrr_xml(_nsrr_xml(tmp_path, _stage('Wake|0', 0, 30)))
  assert hyp.start_time is None and hyp.labels.tolist() == [0]


@pytest.mark.parametrize('events, message', [
    ([_stage('Wake|0', 0, 45.0)], 'Duration 45 s is not a multiple of 30'),
    ([_stage('Wake|0', 15, 30)], 'Start 15 s is not a multiple of 30'),
    ([_stage('Stage 5 sleep|8', 0, 30)], "unknown sleep stage concept 'Stage 5 sleep|8'"),
    ([_stage('Drowsy', 0, 30)], 'unknown sleep stage concept'),
    ([_stage('Wake|0', 0, 'abc')], 'non-numeric <Duration>'),
    ([_stage('Wake|0', 'inf', 30)], 'Start inf s is not a multiple'),
    ([_stage('Wake|0', 0, 0)], 'Duration 0 s'),
    ([_stage('Wake|0', 0, 30 * 10**7)], 'more than 5760'),
    ([_HYPOPNEA], 'no sleep stage events'),
    ([_stage('Wake|0', 0, 60), _stage('REM sleep|5', 30, 30)], 'overlapping'),
])
def test_nsrr_bad_stages_raise(tmp_path, events, message):
  path = _nsrr_xml(tmp_path, _START, *events)
  with pytest.raises(errors.AnnotationError, match=message) as info:
    annotations.read_nsrr_xml(path)
  assert info.value.path == str(path)
  assert 'shhs1-200001-nsrr.xml' in str(info.value)


def test_nsrr_epoch_length_must_be_30(tmp_path):
  path = _nsrr_xml(tmp_path, _stage('Wake|0', 0, 30), epoch_length=20)
  with pytest.raises(errors.AnnotationError, match='EpochLength'):
    annotations.read_nsrr_xml(path)


def test_malformed_xml_raises(tmp_path):
  path = _nsrr_xml(tmp_path, _stage('Wake|0', 0, 30))
  path.write_text(path.read_text()[:-40])  # Cut off the closing tags.
  with pytest.raises(errors.AnnotationError, match='malformed XML'):
    annotations.read_nsrr_xml(path)
  with pytest.raises(errors.AnnotationError, match='cannot read'):
    annotations.read_nsrr_xml(tmp_path / 'missing.xml')


def test_align_labels_longer_and_shorter_than_signal():
  labels = np.array([0, 1, 2, 3, 4], dtype=np.int8)
  np.testing.assert_array_equal(annotations.align_labels(labels, 3), [0, 1, 2])
  padded = annotations.align_labels(labels, 7)
  np.testing.assert_array_equal(padded, [0, 1, 2, 3, 4, -1, -1])
  assert padded.dtype == np.int8
  assert annotations.align_labels(labels, 0).shape == (0,)


@pytest.mark.parametrize('labels, expected', [
    ([0, 0, 2, 2, -1], True),
    ([0, 0, 0], True),
    ([0, 2, 1], False),
    ([0, 2, 3], False),
    ([0, 2, 4, -1], False),
])
def test_is_sleep_wake_only(labels, expected):
  assert annotations.is_sleep_wake_only(np.array(labels, np.int8)) is expected


def _profusion(tmp_path, stages, epoch_length=30):
  body = ''.join(f'<SleepStage>{s}</SleepStage>\n' for s in stages)
  path = tmp_path / 'cfs-visit5-800010-profusion.xml'
  path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<CMPStudyConfig>\n'
                  f'<EpochLength>{epoch_length}</EpochLength>\n<ScoredEvents></ScoredEvents>\n'
                  f'<SleepStages>\n{body}</SleepStages>\n</CMPStudyConfig>\n')
  return path


def test_profusion_xml(tmp_path):
  hyp = annotations.read_profusion_xml(_profusion(tmp_path, [0, 1, 2, 3, 4, 5, 9, 0]))
  np.testing.assert_array_equal(hyp.labels, [0, 1, 2, 3, 3, 4, -1, 0])


@pytest.mark.parametrize('stages, message', [([0, 8], 'unknown stage code 8'),
                                             ([0, 'x'], 'not an integer'), ([], 'empty')])
def test_profusion_bad_input_raises(tmp_path, stages, message):
  with pytest.raises(errors.AnnotationError, match=message):
    annotations.read_profusion_xml(_profusion(tmp_path, stages))


# --- WSC ---------------------------------------------------------------------

_LOG = ('21:58:01 0\tLights Off\n'
        '22:14:53 1\tRecording Started\n'
        '23:00:00 91\tSome note\n')


@pytest.mark.parametrize('header', [True, False])
def test_wsc_stg_with_log(tmp_path, header):
  stg = tmp_path / 'wsc-visit1-10119-nsrr.stg.txt'
  rows = ['1\t0\t0', '2\t1\t1', '3\t2\t2', '4\t3\t3', '5\t4\t4', '6\t5\t5', '7\t7\t7',
          '9\t2\t2']  # Epoch 8 missing.
  lines = (['Epoch\tUser-Defined Stage\tCAST-Defined Stage'] if header else []) + rows
  stg.write_text('\n'.join(lines) + '\n')
  (tmp_path / 'wsc-visit1-10119-nsrr.log.txt').write_text(_LOG)
  hyp = annotations.read_wsc_stg(stg)
  np.testing.assert_array_equal(hyp.labels, [0, 1, 2, 3, 3, 4, -1, -1, 2])
  assert hyp.start_time == datetime.time(22, 14, 53)


@pytest.mark.parametrize('text, message', [
    ('1\t0\n1\t2\n', 'epoch 1 repeated'),
    ('0\t0\n', 'epoch 0 < 1'),
    ('1\t0\n2\tW\n', 'not an integer'),
    ('1\t0\n2\t8\n', 'unknown stage code 8'),
    ('1\t0\nfoo\n', 'malformed'),
    ('Epoch\tUser-Defined Stage\n', 'no stage lines'),
])
def test_wsc_stg_bad_input_raises(tmp_path, text, message):
  stg = tmp_path / 'x.stg.txt'
  stg.write_text(text)
  with pytest.raises(errors.AnnotationError, match=message):
    annotations.read_wsc_stg(stg)


def test_wsc_log_start_choice(tmp_path):
  log = tmp_path / 'x.log.txt'
  log.write_text(_LOG + '23:30:10 1\tRecording Started\n')
  with pytest.raises(errors.AnnotationError, match='2 different'):
    annotations.read_wsc_log_start(log)
  assert annotations.read_wsc_log_start(
      log, edf_start=datetime.time(23, 30, 10)) == datetime.time(23, 30, 10)
  with pytest.raises(errors.AnnotationError, match='EDF start'):
    annotations.read_wsc_log_start(log, edf_start=datetime.time(1, 0, 0))
  log.write_text('10:05:29 PM 1\tRecording Started\n')
  assert annotations.read_wsc_log_start(log) == datetime.time(22, 5, 29)
  log.write_text('21:58:01 0\tLights Off\n')
  with pytest.raises(errors.AnnotationError, match='no .Recording Started'):
    annotations.read_wsc_log_start(log)


@pytest.mark.parametrize(
    'line',
    [
        '22:14:53 1\tRecording Started',  # Real logs: '<time> <epoch>'.
        '22:14:53.000\tRecording Started',  # Without the epoch, with milliseconds.
        '22:14:53\tRecording Started',
    ])
def test_wsc_log_start_formats(tmp_path, line):
  log = tmp_path / 'x.log.txt'
  log.write_text(f'22:13:18 0\tLights Off\n{line}\n22:15:05 1\tImpedance check OK\n')
  assert annotations.read_wsc_log_start(log) == datetime.time(22, 14, 53)


def _allscore(tmp_path, lines):
  path = tmp_path / 'wsc-visit1-10119-nsrr.allscore.txt'
  path.write_text('\n'.join(lines) + '\n')
  return path


def test_wsc_allscore_forward_fill_and_midnight_rollover(tmp_path):
  path = _allscore(
      tmp_path,
      [
          '16:02:11.000\tSTAGE - W',  # Before START RECORDING: ignored.
          '23:58:00.000\tSTART RECORDING',
          '23:58:00.000\tSTAGE - W',
          '23:59:00.120\tSTAGE - N1',  # epoch 2 (jitter rounds to the boundary)
          '23:59:45.000\tLIGHTS OFF',
          '00:00:30.000\tSTAGE - N2',  # after midnight: epoch 5
          '00:01:30.000\tSTAGE - N3',  # epoch 7
          '00:02:30.000\tSTAGE - R',  # epoch 9
          '00:03:30.000\tSTAGE - MVT',  # epoch 11
          '00:04:00.000\tSTAGE - NO STAGE',  # epoch 12
          '00:04:30.000\tSTAGE - W',  # epoch 13
          '00:05:30.000\tSTOP RECORDING',  # epoch 15 ends the night
      ])
  hyp = annotations.read_wsc_allscore(path)
  np.testing.assert_array_equal(hyp.labels, [0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, -1, -1, 0, 0])
  assert hyp.start_time == datetime.time(23, 58, 0)
  # With the EDF length the last stage is carried to the end.
  longer = annotations.read_wsc_allscore(path, n_epochs=18)
  np.testing.assert_array_equal(longer.labels[13:], [0] * 5)


@pytest.mark.parametrize('lines, message', [
    ([
        '22:00:00.000\tSTART RECORDING', '22:00:00.000\tSTAGE - W',
        '01:00:00.000\tPOWER FAILURE RECOVERY', '01:00:30.000\tSTAGE - N2'
    ], 'POWER FAILURE RECOVERY'),
    (['22:00:00.000\tSTAGE - W', '22:00:30.000\tSTAGE - N1'], 'START RECORDING missing'),
    (['22:00:00.000\tSTART RECORDING', '22:00:00.000\tSTAGE - W', '23:00:00.000\tSTART RECORDING'
     ], 'START RECORDING appears 2 times'),
    (['22:00:00.000\tSTART RECORDING', '22:00:00.000\tSTAGE - N7'], "unknown stage 'STAGE - N7'"),
    (['22:00:00.000\tSTART RECORDING', '22:00:30.000'], 'line 2'),
    (['22:00:00.000\tSTART RECORDING', '25:61:00.000\tSTAGE - W'], 'line 2'),
    (['22:00:00.000\tSTART RECORDING', '22:00:10.000\tLIGHTS OFF'], 'no STAGE lines'),
])
def test_wsc_allscore_dropped_nights(tmp_path, lines, message):
  path = _allscore(tmp_path, lines)
  with pytest.raises(errors.AnnotationError, match=message) as info:
    annotations.read_wsc_allscore(path)
  assert 'allscore.txt' in str(info.value)


@pytest.mark.parametrize('scored_epochs', [13, 6])
def test_labels_align_to_signal_epochs(make_edf, tmp_path, scored_epochs):
  rec = edf.read_recording(
      make_edf([
          psg_testutil.Sig('ECG',
                           np.random.default_rng(1).standard_normal(125 * 300), 125, 'mV', (-5, 5))
      ]), ['ECG'])
  xml = _nsrr_xml(tmp_path, _START, _stage('Wake|0', 0, 30 * scored_epochs))
  labels = annotations.align_labels(annotations.read_nsrr_xml(xml).labels, rec.num_epochs)
  assert rec.num_epochs == 10 and labels.shape == (10,)
  assert (labels == 0).sum() == min(10, scored_epochs)
  assert (labels == -1).sum() == max(0, 10 - scored_epochs)


@pytest.mark.parametrize('reader, message', [
    (annotations.read_nsrr_xml, 'no <ScoredEvents> element'),
    (annotations.read_profusion_xml, 'no <SleepStages> element'),
])
def test_xml_without_its_stage_section_names_it(tmp_path, reader, message):
  path = tmp_path / 'n.xml'
  path.write_text('<PSGAnnotation><EpochLength>30</EpochLength></PSGAnnotation>')
  with pytest.raises(errors.AnnotationError, match=message) as info:
    reader(path)
  assert str(path) in str(info.value)
