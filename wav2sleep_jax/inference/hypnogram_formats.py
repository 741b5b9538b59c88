"""Per-night prediction files: the one registry of writers (`WRITERS`, format -> `Writer`).

  csv   <name>.preds.csv             one row per 30-s epoch (Timestamp, Pred, ..., prob_*)
  tsv   <name>_hypnogram.tsv + .json BIDS-style events: one row per epoch (onset, duration,
                                     stage, prob_*), JSON sidecar
  edf   <name>.annotations.edf       EDF+C with only an annotation signal: 'Sleep stage W'
                                     ... per epoch (mne.read_annotations, EDFbrowser)
  xml   <name>.nsrr.xml              NSRR XML: 'Stages|Stages' ScoredEvents, one per run
                                     of equal stages (Luna, `psg.annotations.read_nsrr_xml`)
  png   <name>.hypnogram.png         predicted (and scored) stages (`hypnogram_plot`)
  write_edf_with_stages              a copy of the input EDF with the stages added (EDF+)

    hypnogram_formats.write(night, 'tsv', 'out/night')  # out/night_hypnogram.tsv + .json

A new format is one writer function here and one `WRITERS` entry. Onsets are
seconds from the recording start (epoch 0). Stage codes are AASM's
(W, N1, N2, N3, R); a 4-class model's Light (N1 or N2) has no AASM code and is
written as L ('Sleep stage L' in EDF+, 'Light sleep (N1 or N2)|L' in NSRR XML,
which NSRR readers do not know), its Deep as N3.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
from typing import Any, Callable
from xml.etree import ElementTree

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.core import stages as stages_lib
from wav2sleep_jax.inference import hypnogram_plot
from wav2sleep_jax.inference.night_prediction import NightPrediction

EPOCH_SECONDS = signals_lib.EPOCH_SECONDS
# Class name -> (code, description, EDF+ text, NSRR EventConcept).
STAGE_CODES = {
    'Wake': ('W', 'Wake', 'Sleep stage W', 'Wake|0'),
    'N1': ('N1', 'NREM stage 1', 'Sleep stage N1', 'Stage 1 sleep|1'),
    'N2': ('N2', 'NREM stage 2', 'Sleep stage N2', 'Stage 2 sleep|2'),
    'N3': ('N3', 'NREM stage 3 (slow-wave sleep)', 'Sleep stage N3', 'Stage 3 sleep|3'),
    'REM': ('R', 'REM sleep', 'Sleep stage R', 'REM sleep|5'),
    'Light':
        ('L', 'Light sleep (N1 or N2; no AASM code)', 'Sleep stage L', 'Light sleep (N1 or N2)|L'),
    'Deep': ('N3', 'Deep sleep (N3)', 'Sleep stage N3', 'Stage 3 sleep|3'),
}
UNSCORED_CODE, UNSCORED_EDF_TEXT = 'n/a', 'Sleep stage ?'
PREDS_SUFFIX, PLOT_SUFFIX = '.preds.csv', '.hypnogram.png'
TSV_SUFFIX, JSON_SUFFIX = '_hypnogram.tsv', '_hypnogram.json'
EDF_SUFFIX, XML_SUFFIX = '.annotations.edf', '.nsrr.xml'


def stage_codes(stage_names) -> list[str]:
  """The short code of each class name ('Wake' -> 'W', 'REM' -> 'R')."""
  unknown = [n for n in stage_names if n not in STAGE_CODES]
  if unknown:
    raise ValueError(f'No stage code for classes {unknown}; known: {list(STAGE_CODES)}.')
  return [STAGE_CODES[n][0] for n in stage_names]


def _open_for_writing(path: str | os.PathLike[str]) -> str:
  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  return path


# --- Per-epoch CSV and hypnogram PNG ------------------------------------------


def csv_table(prediction: NightPrediction) -> tuple[list[str], list[list[Any]]]:
  """(header, rows) of the per-epoch table written by `write_csv`."""
  labels_S = prediction.labels_S
  labels = labels_S is not None
  names = prediction.stage_names
  header = ['Timestamp', 'Pred'] + (['Stage'] if labels else []) + [
      'onset_s', 'duration_s', 'pred_stage'
  ] + (['scored_stage'] if labels else []) + [f'prob_{n}' for n in names]
  probs_SK, stages_S = prediction.probabilities_SK, prediction.stages_S
  rows = []
  for i, stamp in enumerate(prediction.timestamps):
    row = [stamp if isinstance(stamp, float) else stamp.isoformat(sep=' '), int(stages_S[i])]
    if labels:
      row.append(int(labels_S[i]))
    row += [EPOCH_SECONDS * i, EPOCH_SECONDS, names[stages_S[i]]]
    if labels:
      row.append(names[labels_S[i]] if labels_S[i] >= 0 else '')
    row += [f'{p:.5f}' for p in probs_SK[i]]
    rows.append(row)
  return header, rows


def write_csv(prediction: NightPrediction, path: str | os.PathLike[str]) -> str:
  """Writes the per-epoch table (see the README's 'Prediction' section); returns its path."""
  header, rows = csv_table(prediction)
  path = _open_for_writing(path)
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
  return path


def write_png(prediction: NightPrediction, path: str | os.PathLike[str]) -> str:
  """Writes the hypnogram (`NightPrediction.hypnogram`) as a PNG; returns its path."""
  return hypnogram_plot.save_png(prediction.hypnogram(), path)


# --- BIDS-style TSV + JSON sidecar --------------------------------------------


def write_tsv(prediction: NightPrediction, path: str | os.PathLike[str]) -> tuple[str, str]:
  """Writes `<name>_hypnogram.tsv` (one row per epoch) and its JSON sidecar; returns both.

  Columns: onset (s from the recording start), duration (30), stage (code),
  scored_stage when labels exist ('n/a' unscored), prob_<code> per class.
  """
  path = _open_for_writing(path)
  codes = stage_codes(prediction.stage_names)
  probs_SK = prediction.probabilities_SK
  header = ['onset', 'duration', 'stage'] + (['scored_stage'] if prediction.labels_S is not None
                                             else []) + [f'prob_{c}' for c in codes]
  lines = ['\t'.join(header)]
  for i, stage in enumerate(prediction.stages_S):
    row = [str(EPOCH_SECONDS * i), str(EPOCH_SECONDS), codes[stage]]
    if prediction.labels_S is not None:
      label = int(prediction.labels_S[i])
      row.append(codes[label] if label >= 0 else UNSCORED_CODE)
    row += [f'{p:.5f}' for p in probs_SK[i]]
    lines.append('\t'.join(row))
  with open(path, 'w', encoding='utf-8', newline='') as f:
    f.write('\n'.join(lines) + '\n')
  sidecar = path[:-len('.tsv')] + '.json' if path.endswith('.tsv') else path + '.json'
  with open(sidecar, 'w', encoding='utf-8') as f:
    json.dump(tsv_sidecar(prediction), f, indent=2)
    f.write('\n')
  return path, sidecar


def tsv_sidecar(prediction: NightPrediction) -> dict[str, Any]:
  """The JSON sidecar of `write_tsv`: columns, stage vocabulary, model and timing."""
  from wav2sleep_jax import __version__

  codes = stage_codes(prediction.stage_names)
  levels = {c: STAGE_CODES[n][1] for c, n in zip(codes, prediction.stage_names)}
  out = {
      'onset': {
          'Description': 'Start of the 30-s epoch, from the recording start.',
          'Units': 's'
      },
      'duration': {
          'Description': 'Length of the epoch.',
          'Units': 's'
      },
      'stage': {
          'Description': 'Predicted sleep stage (most probable class).',
          'Levels': levels
      },
  }
  if prediction.labels_S is not None:
    out['scored_stage'] = {
        'Description': 'Sleep stage scored by an expert, from the '
                       "input's annotation file.",
        'Levels': {
            **levels, UNSCORED_CODE: 'Unscored'
        }
    }
  for code, name in zip(codes, prediction.stage_names):
    out[f'prob_{code}'] = {
        'Description': f'Predicted probability of {name}.',
        'Units': 'probability (0 to 1)'
    }
  out.update(
      RowsAre='one row per 30-s epoch, in time order',
      EpochLength=EPOCH_SECONDS,
      RecordingStart=prediction.start.isoformat() if prediction.start else None,
      StagingMethod='automatic',
      Model={
          'Name': 'wav2sleep',
          'Classes': list(prediction.stage_names),
          'Signals': list(prediction.signals)
      },
      GeneratedBy=[{
          'Name': 'wav2sleep_jax',
          'Version': __version__
      }])
  return out


# --- EDF+ annotations ---------------------------------------------------------


def write_edf_annotations(prediction: NightPrediction, path: str | os.PathLike[str]) -> str:
  """Writes an EDF+C file with only an annotation signal: one stage annotation per epoch.

  Texts are 'Sleep stage W/N1/N2/N3/R' (L for a 4-class model's Light); the
  header's start date and time are the recording's when known (a date outside
  EDF's 1985-2084 is written as unknown, 'Startdate X', keeping the clock time).
  """
  import edfio

  path = _open_for_writing(path)
  texts = [STAGE_CODES[n][2] for n in prediction.stage_names]
  annotations = [
      edfio.EdfAnnotation(float(EPOCH_SECONDS * i), float(EPOCH_SECONDS), texts[s])
      for i, s in enumerate(prediction.stages_S)
  ]
  start = prediction.start
  known_date = start is not None and 1985 <= start.year <= 2084
  recording = edfio.Recording(startdate=start.date() if known_date else None)
  edf = edfio.Edf([],
                  recording=recording,
                  annotations=annotations,
                  starttime=start.time().replace(microsecond=0) if start else None)
  edf.write(path)
  return path


def write_edf_with_stages(prediction: NightPrediction, source_edf: str | os.PathLike[str],
                          path: str | os.PathLike[str]) -> str:
  """Writes a copy of `source_edf` (the night's input) with the predicted stages added.

  The signals, header and any annotations of the source are kept; the stage
  annotations are those of `write_edf_annotations`. A plain EDF becomes EDF+.

  Raises:
    ValueError: the source is shorter than the prediction (not this night's EDF).
  """
  import edfio

  edf = edfio.read_edf(os.fspath(source_edf))
  seconds = EPOCH_SECONDS * prediction.num_epochs
  if edf.duration + 1e-6 < seconds:
    raise ValueError(f'{os.fspath(source_edf)}: lasts {edf.duration:g} s, shorter than the '
                     f'{seconds} s of {prediction.num_epochs} predicted epochs.')
  texts = [STAGE_CODES[n][2] for n in prediction.stage_names]
  edf.add_annotations(
      edfio.EdfAnnotation(float(EPOCH_SECONDS * i), float(EPOCH_SECONDS), texts[s])
      for i, s in enumerate(prediction.stages_S))
  path = _open_for_writing(path)
  edf.write(path)
  return path


# --- NSRR XML -----------------------------------------------------------------


def _event(parent,
           event_type: str,
           concept: str,
           start: float,
           duration: float,
           clock: str | None = None) -> None:
  event = ElementTree.SubElement(parent, 'ScoredEvent')
  ElementTree.SubElement(event, 'EventType').text = event_type
  ElementTree.SubElement(event, 'EventConcept').text = concept
  ElementTree.SubElement(event, 'Start').text = f'{start:.1f}'
  ElementTree.SubElement(event, 'Duration').text = f'{duration:.1f}'
  if clock:
    ElementTree.SubElement(event, 'ClockTime').text = clock


def write_nsrr_xml(prediction: NightPrediction, path: str | os.PathLike[str]) -> str:
  """Writes an NSRR XML: a 'Recording Start Time' event and one stage event per run."""
  from wav2sleep_jax import __version__

  path = _open_for_writing(path)
  root = ElementTree.Element('PSGAnnotation')
  ElementTree.SubElement(root, 'SoftwareVersion').text = f'wav2sleep_jax {__version__}'
  ElementTree.SubElement(root, 'EpochLength').text = str(EPOCH_SECONDS)
  events = ElementTree.SubElement(root, 'ScoredEvents')
  start: datetime.datetime | None = prediction.start
  clock = f'{start:%d.%m.%y %H.%M.%S}' if start else None
  _event(events, '', 'Recording Start Time', 0.0, EPOCH_SECONDS * prediction.num_epochs, clock)
  concepts = [STAGE_CODES[n][3] for n in prediction.stage_names]
  for first, length, stage in stages_lib.runs(prediction.stages_S):
    _event(events, 'Stages|Stages', concepts[stage], EPOCH_SECONDS * first, EPOCH_SECONDS * length)
  ElementTree.indent(root, space='')
  ElementTree.ElementTree(root).write(path, encoding='UTF-8', xml_declaration=True)
  return path


# --- The registry -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Writer:
  """One per-night format: the file name suffix and the function writing it."""

  suffix: str
  write: Callable[[NightPrediction, str], str | tuple[str, ...]]


# Format name -> writer, in the order files are written.
WRITERS = {
    'csv': Writer(PREDS_SUFFIX, write_csv),
    'tsv': Writer(TSV_SUFFIX, write_tsv),
    'edf': Writer(EDF_SUFFIX, write_edf_annotations),
    'xml': Writer(XML_SUFFIX, write_nsrr_xml),
    'png': Writer(PLOT_SUFFIX, write_png),
}


def write(prediction: NightPrediction, fmt: str, base: str | os.PathLike[str]) -> list[str]:
  """Writes format `fmt` of `prediction` to `base` + its suffix; returns the paths written."""
  writer = WRITERS[fmt]
  paths = writer.write(prediction, os.fspath(base) + writer.suffix)
  return [paths] if isinstance(paths, str) else list(paths)
