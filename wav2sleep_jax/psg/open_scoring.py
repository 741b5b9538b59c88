"""Stage scoring of the open PhysioNet datasets: CinC 2018 `.arousal`, HMC, UCDDB.

(slpdb `.st` files are read by `annotations.read_wfdb_stages`.) Labels are 5-class
per 30-s epoch of the SIGNAL file (0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 unscored).

Alignment of a scoring to the signal grid (CinC 2018, HMC): stage onsets in
seconds from the signal start must share one 30-s grid (each onset a multiple
of 30 s after the first, to `GRID_TOLERANCE_S`); a stage off that grid is an
`AnnotationError` naming it. When the scoring grid itself is offset from the
signal's (first onset not a multiple of 30 s), each signal epoch takes the
stage scored at its midpoint, and the hypnogram carries a note saying by how
much (a report entry of the night). Unknown stage strings are errors by name.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from wav2sleep_jax.psg import annotations
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import wfdb

UNSCORED = annotations.UNSCORED
_EPOCH = channels_lib.EPOCH_SECONDS
GRID_TOLERANCE_S = 0.01
CINC2018_RATE_HZ = 200.0  # Every CinC 2018 signal (challenge documentation).
# HMC: scoring and signal files of one night start together; far apart means a mismatch.
MAX_START_DIFFERENCE_S = 12 * 3600.0

# CinC 2018 stage notes; 'undefined' is the challenge's documented sixth stage class.
CINC2018_STAGES = {'W': 0, 'N1': 1, 'N2': 2, 'N3': 3, 'R': 4, 'undefined': UNSCORED}
# The challenge's event classes (arousals, respiratory events), with or without parentheses.
CINC2018_EVENTS = ('arousal_', 'resp_')
HMC_STAGES = {
    'Sleep stage W': 0,
    'Sleep stage N1': 1,
    'Sleep stage N2': 2,
    'Sleep stage N3': 3,
    'Sleep stage R': 4,
    'Sleep stage ?': UNSCORED
}
HMC_OTHER = ('Lights off', 'Lights on')
# UCDDB `_stage.txt` codes (R&K; 6 artifact, 7 indeterminate and any other code: unscored).
UCDDB_STAGES = {0: 0, 1: 4, 2: 1, 3: 2, 4: 3, 5: 3}


def _on_signal_grid(runs: Sequence[tuple[float, int, int]], path: str) -> annotations.Hypnogram:
  """(onset s, epochs, label) runs -> labels on the signal's 30-s grid (module docstring)."""
  if not runs:
    raise errors.AnnotationError(path, 'no stage annotations')
  runs = sorted(runs)
  first = runs[0][0]
  epoch_runs = []
  for onset, count, label in runs:
    k = (onset - first) / _EPOCH
    if abs(k - round(k)) * _EPOCH > GRID_TOLERANCE_S:
      raise errors.AnnotationError(
          path, f'stage at {onset:g} s is not on the 30-s grid of the first stage '
          f'({first:g} s)')
    epoch_runs.append((round(k), count, label))
  scored = annotations.runs_to_labels(epoch_runs, path)
  offset = first - _EPOCH * round(first / _EPOCH)
  if abs(offset) <= GRID_TOLERANCE_S:
    start = round(first / _EPOCH)
    labels = np.full(start + len(scored), UNSCORED, np.int8) if start >= 0 else scored[-start:]
    if start >= 0:
      labels[start:] = scored
    return annotations.Hypnogram(labels)
  num = math.floor((first + len(scored) * _EPOCH) / _EPOCH)
  mid = np.arange(num) * _EPOCH + _EPOCH / 2
  j = np.floor((mid - first) / _EPOCH).astype(int)
  ok = (j >= 0) & (j < len(scored))
  labels = np.where(ok, scored[np.clip(j, 0, len(scored) - 1)], UNSCORED).astype(np.int8)
  return annotations.Hypnogram(
      labels,
      notes=(f'stage epochs start {offset:+.3f} s off the 30-s grid of the signal file; each '
             'signal epoch takes the stage scored at its midpoint',))


def read_cinc2018_arousal(path: str | os.PathLike[str]) -> annotations.Hypnogram:
  """Stages of a CinC 2018 `.arousal` file (rate, length and start from the sibling `.hea`).

  Stage notes (aux 'W', 'N1', 'N2', 'N3', 'R') hold until the next stage note,
  the last one to the end of the record; epochs before the first are
  unscored. Aux strings with a parenthesis ('(arousal_rera', 'resp_hypopnea)')
  or naming an event class ('arousal_...', 'resp_...') are events and ignored. Without the `.hea` beside it the rate is the
  challenge's 200 Hz and the last stage note scores one epoch (the record's
  end is unknown); a note says so.

  Raises:
    AnnotationError: undecodable file, malformed header, an unknown aux string,
      no stage note, or stage notes off one 30-s grid.
  """
  path = os.fspath(path)
  header_path = os.path.splitext(path)[0] + '.hea'
  if os.path.exists(header_path):
    header = annotations.wfdb_header(header_path)
  else:
    header = wfdb.WfdbHeader(os.path.basename(header_path)[:-4], CINC2018_RATE_HZ, None, None)
  notes = []
  for ann in wfdb.read_annotations(path):
    text = ann.aux.strip()
    if not text or text.startswith('(') or text.endswith(')') or text.startswith(CINC2018_EVENTS):
      continue
    if text not in CINC2018_STAGES:
      raise errors.AnnotationError(path, f'unknown annotation {text!r} at sample {ann.sample}')
    notes.append((ann.sample, CINC2018_STAGES[text]))
  if not notes:
    raise errors.AnnotationError(path, 'no stage notes (W, N1, N2, N3, R)')
  rate = header.sampling_rate_hz
  end = header.num_samples if header.num_samples else notes[-1][0] + _EPOCH * rate
  extra = () if header.num_samples else (
      f'no {os.path.basename(header_path)}: {rate:g} Hz assumed, the last stage scores one epoch',)
  runs = []
  for (sample, label), nxt in zip(notes, [n[0] for n in notes[1:]] + [end]):
    epochs = (nxt - sample) / (_EPOCH * rate)
    count = math.floor(epochs + 1e-6) if nxt == end else round(epochs)
    if nxt != end and abs(epochs - count) * _EPOCH > GRID_TOLERANCE_S:
      raise errors.AnnotationError(
          path, f'stage note at sample {nxt} is not on the 30-s grid of the one at {sample}')
    if count > 0:
      runs.append((sample / rate, count, label))
  hypnogram = _on_signal_grid(runs, path)
  return annotations.Hypnogram(hypnogram.labels, header.start_time, hypnogram.notes + extra)


def read_hmc_scoring(path: str | os.PathLike[str], signal_start=None) -> annotations.Hypnogram:
  """Stages of an HMC `SNxxx_sleepscoring.edf` (EDF+ annotations).

  Onsets count from the scoring file's start; with `signal_start` (the
  signal EDF's start datetime) they are moved to the signal's time base.
  'Sleep stage ?' is unscored; 'Lights off'/'Lights on' are ignored.

  Raises:
    AnnotationError: unreadable file, an unknown annotation, a stage whose
      duration is not a multiple of 30 s, stages off one 30-s grid, none, or a
      file start more than 12 h from `signal_start`.
  """
  path = os.fspath(path)
  try:
    start, items = edf_lib.read_edf_annotations(path)
  except errors.RecordingError as e:
    raise errors.AnnotationError(e.path, e.reason) from e
  shift = 0.0
  if signal_start is not None and start is not None:
    shift = (start - signal_start).total_seconds()
    if abs(shift) > MAX_START_DIFFERENCE_S:
      raise errors.AnnotationError(
          path, f'scoring file starts at {start}, the signal file at {signal_start}: more '
          f'than {MAX_START_DIFFERENCE_S / 3600:g} h apart')
  runs = []
  for item in items:
    text = item.text.strip()
    if text in HMC_OTHER:
      continue
    if text not in HMC_STAGES:
      raise errors.AnnotationError(path, f'unknown annotation {text!r} at {item.onset:g} s')
    count = (item.duration or 0.0) / _EPOCH
    if count < 1 - 1e-6 or abs(count - round(count)) * _EPOCH > GRID_TOLERANCE_S:
      raise errors.AnnotationError(
          path, f'{text!r} at {item.onset:g} s lasts {item.duration} s, not a multiple of 30 s')
    runs.append((item.onset + shift, round(count), HMC_STAGES[text]))
  hypnogram = _on_signal_grid(runs, path)
  return annotations.Hypnogram(hypnogram.labels, None, hypnogram.notes)


def read_ucddb_stages(path: str | os.PathLike[str]) -> annotations.Hypnogram:
  """Stages of a UCDDB `ucddbXXX_stage.txt`: one integer per 30-s epoch from the start.

  Raises:
    AnnotationError: unreadable file, a line that is not an integer, or no epoch.
  """
  path = os.fspath(path)
  try:
    with open(path, encoding='latin-1') as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise errors.AnnotationError(path, f'cannot read file: {e}') from e
  codes = []
  for number, line in enumerate(lines, 1):
    text = line.strip()
    if not text:
      continue
    try:
      codes.append(int(text))
    except ValueError:
      raise errors.AnnotationError(
          path, f'line {number}: unknown stage {text!r} (expected an integer code)') from None
  if not codes:
    raise errors.AnnotationError(path, 'no stage lines')
  labels = np.array([UCDDB_STAGES.get(c, UNSCORED) for c in codes], np.int8)
  return annotations.Hypnogram(labels)
