"""Where a cohort's files live: its nights (for the dataset builders) and an EDF's annotation.

    files = find_nights(manual_dir, cohorts.get('shhs'))
    result = assemble_night(files[0], cohorts.get('shhs'), NightOptions())
    result.night        # None if the night was skipped
    result.entries      # SkipEntry per skipped night / absent channel / note
    find_annotation('shhs/polysomnography/edfs/shhs1/shhs1-200001.edf')  # (kind, path)

The one home of the download layouts (NSRR, WSC, the open datasets). Each night is
read by `night.read_night` (what it checks, and why a night is skipped or a channel
absent, is described there) with labels required; nights are stored at their
natural length up to `max_hours` (`data.records.to_example`; padding happens in the
input pipeline). Report paths are relative to the cohort folder.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

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
    found += [os.path.join(parent, f) for f in files if f.lower().endswith('.edf')]
  return sorted(found)


def _existing(root: str, *candidates: tuple[str, str]) -> tuple[tuple[str, str], ...]:
  return tuple((kind, rel) for kind, rel in candidates if os.path.isfile(os.path.join(root, rel)))


# Open layouts: (signal file suffix, scoring kind, scoring file suffix) after the record name.
OPEN_FILES = {
    cohorts_lib.SLPDB_LAYOUT: ('.hea', night_lib.SLPDB_ST, '.st'),
    cohorts_lib.CINC2018_LAYOUT: ('.hea', night_lib.CINC2018_AROUSAL, '.arousal'),
    cohorts_lib.HMC_LAYOUT: ('.edf', night_lib.HMC_SCORING, '_sleepscoring.edf'),
    cohorts_lib.UCDDB_LAYOUT: ('.rec', night_lib.UCDDB_STAGE, '_stage.txt'),
}
# Scoring files the open datasets keep beside the signal file: (kind, suffix of the stem).
OPEN_SCORING = tuple((kind, suffix) for _, kind, suffix in OPEN_FILES.values())
# WSC scoring beside the EDF, preferred first: (kind, suffix of the stem).
WSC_SCORING = ((night_lib.WSC_STG, '.stg.txt'), (night_lib.WSC_ALLSCORE, '.allscore.txt'))


def nsrr_annotations(sub: str, stem: str) -> tuple[tuple[str, str], ...]:
  """(kind, path relative to the cohort folder) of an NSRR EDF's annotations, preferred first.

  The EDF is `polysomnography/edfs/<sub>/<stem>.edf` (`sub` may be '').
  """
  psg = 'polysomnography'
  return ((night_lib.NSRR_XML, os.path.join(psg, 'annotations-events-nsrr', sub,
                                            f'{stem}-nsrr.xml')),
          (night_lib.PROFUSION_XML,
           os.path.join(psg, 'annotations-events-profusion', sub, f'{stem}-profusion.xml')))


def find_annotation(edf_path: str | os.PathLike[str]) -> tuple[str, str] | None:
  """(kind, path) of an EDF's stage annotation, or None.

  Looked up where the NSRR layout puts it (`nsrr_annotations`), then beside the
  EDF (`<id>-nsrr.xml`, `<id>-profusion.xml`, WSC `<id>.stg.txt` /
  `<id>.allscore.txt`), then the open datasets' files beside the signal file
  (`OPEN_SCORING`: slpdb `.st`, CinC 2018 `.arousal`, HMC `_sleepscoring.edf`,
  UCDDB `_stage.txt`).
  """
  edf = pathlib.Path(edf_path)
  stem, candidates = edf.stem, []
  parts = edf.parent.parts
  for i in range(len(parts) - 1, 0, -1):
    if parts[i] == 'edfs' and parts[i - 1] == 'polysomnography':
      root, sub = pathlib.Path(*parts[:i - 1]), os.path.join('', *parts[i + 1:])
      candidates += [(kind, root / rel) for kind, rel in nsrr_annotations(sub, stem)]
      break
  beside = ((night_lib.NSRR_XML, '-nsrr.xml'), (night_lib.PROFUSION_XML, '-profusion.xml'),
            *WSC_SCORING, *OPEN_SCORING)
  candidates += [(kind, edf.with_name(stem + suffix)) for kind, suffix in beside]
  for kind, candidate in candidates:
    if candidate.is_file():
      return kind, os.fspath(candidate)
  return None


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
    nights.append(
        NightFiles(
            open_record_id(cohort.name, name), cohort.name, root, base + signal_suffix,
            _existing(root, (kind, base + scoring_suffix))))
  return nights


def find_nights(manual_dir: str | os.PathLike[str], cohort: cohorts_lib.Cohort) -> list[NightFiles]:
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
      raise FileNotFoundError(f'{edf_dir} not found: expected the NSRR download of {cohort.name} '
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
      found = _existing(root, *nsrr_annotations('' if sub == '.' else sub, record_id))
    else:
      base = os.path.splitext(rel)[0]
      found = _existing(root, *((kind, base + suffix) for kind, suffix in WSC_SCORING))
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
          f'{list(options.signals)}',
          stage='channel')
    night = night_lib.read_night(
        files.path(files.edf),
        dataclasses.replace(options, signals=wanted),
        record_id=files.record_id,
        cohort=cohort,
        annotation=(files.annotations[0][0],
                    files.path(files.annotations[0][1])) if files.annotations else None)
    entries, skipped = night.entries, ()
  except errors.PsgError as e:
    night, entries = None, e.entries
    skipped = (report_lib.SkipEntry(files.record_id, e.path, e.stage, e.reason,
                                    report_lib.NIGHT_SKIPPED),)
  return NightResult(
      night,
      tuple(dataclasses.replace(e, path=_relative(e.path, files)) for e in entries + skipped))
