"""Collects what a dataset build skipped, and why, for CSV/JSON reports and logs.

Nothing is dropped silently: every skipped night and every absent channel gets
one `SkipEntry`. Builders write the report next to the prepared dataset.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import os
from typing import Iterable, Mapping

from wav2sleep_jax.psg import edf as edf_lib
from wav2sleep_jax.psg import errors

NIGHT_SKIPPED = 'night skipped'
CHANNEL_ABSENT = 'channel absent'
SPLIT_LEFT_OUT = 'split left out'  # Every night of the split was skipped.


@dataclasses.dataclass(frozen=True)
class SkipEntry:
  """One skipped night or absent channel.

  Attributes:
    record_id: e.g. 'shhs1-200001'.
    path: the file at fault (as given; pass paths relative to the manual dir
      to keep reports free of local paths).
    stage: step that failed: 'edf', 'channel', 'annotation', 'exclusion', ...
    reason: human-readable reason.
    action: consequence, e.g. 'night skipped' or 'channel absent'.
  """

  record_id: str
  path: str
  stage: str
  reason: str
  action: str


_FIELDS = tuple(f.name for f in dataclasses.fields(SkipEntry))


class SkipReport:
  """Accumulates `SkipEntry`s in insertion order."""

  def __init__(self, entries: Iterable[SkipEntry] = ()):
    self._entries: list[SkipEntry] = list(entries)

  def add(self, record_id: str, path: str | os.PathLike[str], stage: str, reason: str,
          action: str) -> None:
    """Records one skipped night or absent channel."""
    for name, value in (('record_id', record_id), ('stage', stage), ('reason', reason), ('action',
                                                                                         action)):
      if not value:
        raise ValueError(f'SkipReport.add: {name} must be non-empty.')
    self._entries.append(SkipEntry(record_id, os.fspath(path), stage, reason, action))

  def add_error(self, record_id: str, error: errors.PsgError, action: str = NIGHT_SKIPPED) -> None:
    """Records a parsing error; the stage comes from the error type."""
    self.add(record_id, error.path, error.stage, error.reason, action)

  def add_channel_problems(self, record_id: str, recording: edf_lib.Recording) -> None:
    """Records every absent channel of a recording ('channel absent')."""
    for problem in recording.problems:
      label = f' (label {problem.label!r})' if problem.label else ''
      self.add(record_id, recording.path, 'channel', f'{problem.name}{label}: {problem.reason}',
               CHANNEL_ABSENT)

  def extend(self, other: SkipReport | Iterable[SkipEntry]) -> None:
    """Appends entries of another report (e.g. from a worker process)."""
    self._entries.extend(other.entries if isinstance(other, SkipReport) else other)

  @property
  def entries(self) -> tuple[SkipEntry, ...]:
    return tuple(self._entries)

  def __len__(self) -> int:
    return len(self._entries)

  def summary(self) -> dict[str, int]:
    """Counts per '<stage>: <action>', 'nights skipped' (distinct ids) and, if
    any, 'splits left out'."""
    counts = collections.Counter(f'{e.stage}: {e.action}' for e in self._entries)
    out = dict(sorted(counts.items()))
    out['nights skipped'] = len({e.record_id for e in self._entries if e.action == NIGHT_SKIPPED})
    if self.splits_left_out():
      out['splits left out'] = len(self.splits_left_out())
    return out

  def splits_left_out(self) -> list[str]:
    """Splits without any kept night (entries 'split:<name>', 'split left out')."""
    return [e.record_id.removeprefix('split:') for e in self._entries if e.action == SPLIT_LEFT_OUT]

  def summary_text(self) -> str:
    """One line for a build log, e.g. '3 nights skipped (annotation: ...)'."""
    summary = self.summary()
    nights = summary.pop('nights skipped')
    left_out = summary.pop('splits left out', 0)
    details = ', '.join(f'{key} x{count}' for key, count in summary.items())
    splits = (f'; splits left out: {", ".join(self.splits_left_out())}' if left_out else '')
    return f'{nights} nights skipped{splits}; {len(self)} entries' + (f' ({details})'
                                                                      if details else '')

  def to_csv(self) -> str:
    """The entries as CSV text (header record_id,path,stage,reason,action)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_FIELDS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(dataclasses.asdict(e) for e in self._entries)
    return buffer.getvalue()

  def to_json(self, run_info: Mapping[str, str] | None = None) -> str:
    """The summary and the entries (after `run_info` as 'run', if given) as JSON text."""
    run = {'run': dict(run_info)} if run_info else {}
    return json.dumps(
        {
            **run, 'summary': self.summary(),
            'entries': [dataclasses.asdict(e) for e in self._entries]
        },
        indent=1) + '\n'

  def write(self,
            directory: str | os.PathLike[str],
            name: str = 'skipped',
            run_info: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Writes `<name>.csv` and `<name>.json` (with `run_info`) into `directory`; returns
    both paths."""
    os.makedirs(directory, exist_ok=True)
    csv_path = os.path.join(directory, f'{name}.csv')
    json_path = os.path.join(directory, f'{name}.json')
    with open(csv_path, 'w', newline='', encoding='utf-8') as f:
      f.write(self.to_csv())
    with open(json_path, 'w', encoding='utf-8') as f:
      f.write(self.to_json(run_info))
    return csv_path, json_path

  @classmethod
  def from_csv(cls, text: str) -> SkipReport:
    """Parses the text written by `to_csv`."""
    return cls(SkipEntry(**row) for row in csv.DictReader(io.StringIO(text)))

  @classmethod
  def read_csv(cls, path: str | os.PathLike[str]) -> SkipReport:
    """Reads a report written by `write` (e.g. to merge shards)."""
    with open(path, newline='', encoding='utf-8') as f:
      return cls(SkipEntry(**row) for row in csv.DictReader(f))
