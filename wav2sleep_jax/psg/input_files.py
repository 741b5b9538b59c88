"""Prediction inputs: finding EDF/WFDB/CSV/parquet nights, channel maps, reading one input."""

from __future__ import annotations

import collections
import os
import pathlib
from typing import Iterable, Mapping, Sequence

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.psg import channels as channels_lib
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import night as night_lib

# Files that prediction itself writes (never read back as inputs).
OUTPUT_SUFFIXES = ('.preds.csv',)
OUTPUT_NAMES = ('summary.csv', 'skipped.csv')
# Scoring files with a signal-file extension (HMC's EDF+ annotations): never inputs.
SCORING_SUFFIXES = ('_sleepscoring.edf',)


def parse_channel_map(items: Iterable[str]) -> dict[str, tuple[str, ...]]:
  """['ECG=EKG', 'THX=Thor', 'ECG=ECG1'] -> {'ECG': ('EKG', 'ECG1'), 'THX': ('Thor',)}.

  Raises:
    ValueError: on an item without '=' or with an unknown signal name.
  """
  mapping: dict[str, tuple[str, ...]] = {}
  for item in items:
    name, sep, label = item.partition('=')
    name, label = name.strip(), label.strip()
    if not sep or not name or not label:
      raise ValueError(f'Channel mapping {item!r} is not SIGNAL=LABEL (e.g. ECG=EKG).')
    if name not in channels_lib.SAMPLES_PER_EPOCH:
      raise ValueError(f'Channel mapping {item!r}: unknown signal {name!r}; known: '
                       f'{list(channels_lib.SIGNAL_NAMES)}.')
    mapping[name] = mapping.get(name, ()) + (label,)
  return mapping


def find_inputs(root: str | os.PathLike[str],
                kinds: Sequence[str] = tuple(night_lib.EXTENSIONS.values()),
                exclude: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
  """(path, name) of every input file at or below `root`, sorted by name.

  `name` is the path relative to `root` without the extension (the stem for a
  single file). Files prediction writes (`*.preds.csv`, `summary.csv`,
  `skipped.csv`), scoring files (`*_sleepscoring.edf`) and anything under
  `exclude` (the output folder) are skipped. A WFDB record is found by its `.hea`.
  Two inputs with the same name (`x.edf`, `x.csv`) keep their extension in it.

  Raises:
    FileNotFoundError: if `root` does not exist.
    ValueError: on an unknown kind.
  """
  known = sorted(night_lib.EXTENSIONS.values())
  unknown = sorted(set(kinds) - set(known))
  if unknown or not kinds:
    raise ValueError(f'Unknown input formats {unknown}; known: {known}.')
  root_path = pathlib.Path(root)
  if not root_path.exists():
    raise FileNotFoundError(f'Input {root} does not exist.')
  suffixes = {s for s, k in night_lib.EXTENSIONS.items() if k in kinds}
  if root_path.is_file():
    return ([(os.fspath(root_path),
              root_path.stem)] if root_path.suffix.lower() in suffixes else [])
  skip = pathlib.Path(exclude).resolve() if exclude is not None else None
  found = []
  for path in sorted(root_path.rglob('*')):
    if not path.is_file() or path.suffix.lower() not in suffixes:
      continue
    if path.name.endswith(OUTPUT_SUFFIXES) or path.name in OUTPUT_NAMES:
      continue
    if path.name.lower().endswith(SCORING_SUFFIXES):
      continue
    if skip is not None and path.resolve().is_relative_to(skip):
      continue
    found.append(path)
  stems = [p.relative_to(root_path).with_suffix('').as_posix() for p in found]
  counts = collections.Counter(stems)
  out = [(os.fspath(p), stem if counts[stem] == 1 else p.relative_to(root_path).as_posix())
         for p, stem in zip(found, stems)]
  return sorted(out, key=lambda item: item[1])


def read_input(path: str | os.PathLike[str],
               signals: Sequence[str],
               *,
               name: str | None = None,
               channel_map: Mapping[str, Sequence[str]] | None = None,
               with_labels: bool = True,
               allow_truncated: bool = False,
               preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing(),
               reference_join_order: Sequence[str] | None = None) -> night_lib.Night:
  """Reads one prediction input with `night.read_night`: whole night, labels optional.

  Args:
    path: an EDF (also '.rec'), a WFDB header ('.hea'), a CSV or parquet file.
    signals: canonical signals wanted (the model's, or a subset).
    name: the night's key (default: the file's stem).
    channel_map: canonical name -> labels (or column names) instead of the aliases.
    with_labels: read the stage annotation beside an EDF or WFDB record
      (`cohort_files.find_annotation`); an unusable one is a 'labels ignored' entry.
    allow_truncated: stage the complete records of a truncated EDF (noted).
    preprocessing: ours (the whole night) or `reference` (the reference's grid;
      see `night.NightOptions`).
    reference_join_order: `reference`: the order of the signals asked for (default
      `signals`), which orders each signal's samples on the grid.

  Raises:
    PsgError: the night cannot be staged (unreadable, too short, no usable signal).
    ValueError: on an unknown signal name or file extension.
  """
  options = night_lib.NightOptions(
      signals=tuple(signals),
      max_hours=None,
      channel_map=dict(channel_map or {}),
      require_labels=False,
      exclude_sleep_wake_only=False,
      allow_truncated=allow_truncated,
      preprocessing=preprocessing,
      reference_join_order=tuple(reference_join_order) if reference_join_order else None)
  kind = night_lib.EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower())
  with_labels = with_labels and kind in night_lib.SIGNAL_KINDS
  annotation = cohort_files.find_annotation(path) if with_labels else None
  return night_lib.read_night(path, options, record_id=name, annotation=annotation)
