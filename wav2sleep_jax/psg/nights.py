"""The nights of a cohort download -> stored examples (for the dataset builders).

    files = find_nights(manual_dir, cohorts.get('shhs'))
    result = assemble_night(files[0], cohorts.get('shhs'), NightOptions())
    result.night        # None if the night was skipped
    result.entries      # SkipEntry per skipped night / absent channel / note
    example = to_example(result.night, NightOptions().signals)

Each night is read by `night.read_night` (what it checks, and why a night is
skipped or a channel absent, is described there) with labels required; nights
are stored at their natural length up to `max_hours` (padding happens in the
input pipeline). Report paths are relative to the cohort folder.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.psg import cohorts as cohorts_lib
from wav2sleep_jax.psg import errors
from wav2sleep_jax.psg import night as night_lib
from wav2sleep_jax.psg import skip_report as report_lib

NightOptions = night_lib.NightOptions  # Builder config values (re-exported).


# --- Finding the files of each night ---------------------------------------


@dataclasses.dataclass(frozen=True)
class NightFiles:
  """The files of one night, relative to the cohort folder `root`.

  Attributes:
    record_id: e.g. 'shhs1-200001' (the EDF's stem).
    cohort: cohort name.
    root: the cohort folder (an NSRR download of that cohort).
    edf: EDF path relative to `root`.
    annotations: (kind, path relative to `root`) of the existing annotation
      files, preferred first; empty if there is none.
  """

  record_id: str
  cohort: str
  root: str
  edf: str
  annotations: tuple[tuple[str, str], ...]

  def path(self, relative: str) -> str:
    return os.path.join(self.root, relative)


def cohort_root(manual_dir: str | os.PathLike[str], cohort: str) -> str:
  """The cohort folder: `manual_dir` itself or `manual_dir/<cohort>`."""
  manual_dir = os.fspath(manual_dir)
  if os.path.isdir(os.path.join(manual_dir, 'polysomnography')):
    return manual_dir
  nested = os.path.join(manual_dir, cohort)
  if os.path.isdir(nested):
    return nested
  return manual_dir


def _edfs(folder: str) -> list[str]:
  """EDF files below `folder` (any depth), sorted."""
  found = []
  for parent, dirs, files in os.walk(folder):
    dirs.sort()
    found += [os.path.join(parent, f) for f in files
              if f.lower().endswith('.edf')]
  return sorted(found)


def _existing(root: str, *candidates: tuple[str, str]) -> tuple[tuple[str, str], ...]:
  return tuple((kind, rel) for kind, rel in candidates
               if os.path.isfile(os.path.join(root, rel)))


# Open layouts: (signal file suffix, scoring kind, scoring file suffix) after the record name.
OPEN_FILES = {
    cohorts_lib.CINC2018_LAYOUT: ('.hea', night_lib.CINC2018_AROUSAL, '.arousal'),
    cohorts_lib.HMC_LAYOUT: ('.edf', night_lib.HMC_SCORING, '_sleepscoring.edf'),
    cohorts_lib.UCDDB_LAYOUT: ('.rec', night_lib.UCDDB_STAGE, '_stage.txt'),
    cohorts_lib.SLPDB_LAYOUT: ('.hea', night_lib.SLPDB_ST, '.st'),
}


def open_record_id(cohort: str, name: str) -> str:
  """Record id of an open dataset's record: 'tr03-0005' -> 'cinc2018-tr03-0005'."""
  return name if name.startswith(cohort) else f'{cohort}-{name}'


def _find_open_nights(root: str, cohort: cohorts_lib.Cohort) -> list[NightFiles]:
  """Records of an open dataset: every record name with a signal or a scoring file.

  A record with only its scoring file is listed (its build reports the missing
  signal file); files whose name is not the dataset's record name (the CinC
  test set 'teXX-XXXX', HMC scoring EDFs as signals) are not records.
  """
  signal_suffix, kind, scoring_suffix = OPEN_FILES[cohort.layout]
  names: dict[str, str] = {}  # record name -> folder relative to root
  for parent, dirs, files in os.walk(root):
    dirs.sort()
    for f in files:
      for suffix in (signal_suffix, scoring_suffix):
        name = f[:-len(suffix)] if f.endswith(suffix) else None
        if name and cohorts_lib.guess_open_cohort(name) is cohort:
          if cohort.name != 'cinc2018' or name.startswith('tr'):  # Test set: no labels.
            names.setdefault(name, os.path.relpath(parent, root))
  nights = []
  for name, folder in sorted(names.items()):
    base = os.path.normpath(os.path.join(folder, name))
    nights.append(NightFiles(open_record_id(cohort.name, name), cohort.name, root,
                             base + signal_suffix, _existing(root, (kind, base + scoring_suffix))))
  return nights


def find_nights(manual_dir: str | os.PathLike[str],
                cohort: cohorts_lib.Cohort) -> list[NightFiles]:
  """Lists the nights of a cohort download, sorted by record id.

  NSRR layout: every `polysomnography/edfs/[<sub>/]<id>.edf`, with
  `annotations-events-nsrr/[<sub>/]<id>-nsrr.xml` (else the Profusion XML).
  WSC layout: every `**/<id>.edf`, with sibling `<id>.stg.txt` (else
  `<id>.allscore.txt`). Open datasets: see `OPEN_FILES` and
  `_find_open_nights`. Nights without an annotation file are listed too (the
  build reports them).

  Raises:
    FileNotFoundError: if the folder does not hold the cohort's layout.
  """
  root = cohort_root(manual_dir, cohort.name)
  if cohort.layout in OPEN_FILES:
    if not os.path.isdir(root):
      raise FileNotFoundError(f'{root} not found: expected the {cohort.name} download.')
    return _find_open_nights(root, cohort)
  psg = os.path.join(root, 'polysomnography')
  if cohort.layout == cohorts_lib.NSRR_LAYOUT:
    edf_dir = os.path.join(psg, 'edfs')
    if not os.path.isdir(edf_dir):
      raise FileNotFoundError(
          f'{edf_dir} not found: expected the NSRR download of {cohort.name} '
          '(polysomnography/edfs/, polysomnography/annotations-events-nsrr/).')
  else:
    edf_dir = root
    if not os.path.isdir(edf_dir):
      raise FileNotFoundError(f'{edf_dir} not found.')
  nights = []
  for path in _edfs(edf_dir):
    rel = os.path.relpath(path, root)
    record_id = os.path.splitext(os.path.basename(path))[0]
    if cohort.layout == cohorts_lib.NSRR_LAYOUT:
      sub = os.path.relpath(os.path.dirname(path), edf_dir)
      sub = '' if sub == '.' else sub
      found = _existing(
          root,
          (night_lib.NSRR_XML, os.path.join('polysomnography', 'annotations-events-nsrr',
                                  sub, f'{record_id}-nsrr.xml')),
          (night_lib.PROFUSION_XML, os.path.join(
              'polysomnography', 'annotations-events-profusion', sub,
              f'{record_id}-profusion.xml')))
    else:
      base = os.path.splitext(rel)[0]
      found = _existing(root, (night_lib.WSC_STG, f'{base}.stg.txt'),
                        (night_lib.WSC_ALLSCORE, f'{base}.allscore.txt'))
    nights.append(NightFiles(record_id, cohort.name, root, rel, found))
  return sorted(nights, key=lambda n: n.record_id)


# --- Assembling one night ----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NightResult:
  """A night (None if skipped) and its skip-report entries."""

  night: night_lib.Night | None
  entries: tuple[report_lib.SkipEntry, ...]


def _relative(path: str, files: NightFiles) -> str:
  """`path` relative to the cohort folder (no local paths in reports)."""
  try:
    return os.path.relpath(path, files.root)
  except ValueError:
    return path


def assemble_night(files: NightFiles, cohort: cohorts_lib.Cohort,
                   options: NightOptions) -> NightResult:
  """Reads one night with `night.read_night`. Never raises PsgError."""
  wanted = tuple(s for s in options.signals if s in cohort.signals)
  try:
    if not wanted:
      raise errors.RecordingError(
          files.path(files.edf), f'{cohort.name} has none of the signals '
          f'{list(options.signals)}', stage='channel')
    night = night_lib.read_night(
        files.path(files.edf), dataclasses.replace(options, signals=wanted),
        record_id=files.record_id, cohort=cohort,
        annotation=(files.annotations[0][0], files.path(files.annotations[0][1]))
        if files.annotations else None)
    entries, skipped = night.entries, ()
  except errors.PsgError as e:
    night, entries = None, e.entries
    skipped = (report_lib.SkipEntry(files.record_id, e.path, e.stage, e.reason,
                                    report_lib.NIGHT_SKIPPED),)
  return NightResult(night, tuple(dataclasses.replace(e, path=_relative(e.path, files))
                                  for e in entries + skipped))


def to_example(night: night_lib.Night, signal_names: Sequence[str],
               preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing()) -> dict:
  """The stored example of a night (numpy values, keys from `signals.feature_key`),
  read with `preprocessing` (stored as JSON, `prep_lib.to_json`)."""
  signals, present, rates, units = {}, {}, {}, {}
  for name in signal_names:
    key = grid.feature_key(name)
    data = night.signals.get(name)
    present[key] = data is not None
    signals[key] = (np.zeros(0, np.float32) if data is None
                    else np.asarray(data, np.float32))
    rates[key] = np.float32(night.native_rate_hz.get(name, 0.0))
    units[key] = night.units.get(name, '')
  return {
      'record_id': night.record_id,
      'cohort': night.cohort,
      'start_time': night.start_time,
      'num_epochs': np.int32(night.num_epochs),
      'labels': np.asarray(night.labels, np.int8),
      'signals': signals,
      'present': present,
      'native_rate_hz': rates,
      'unit': units,
      'preprocessing': prep_lib.to_json(preprocessing),
  }

