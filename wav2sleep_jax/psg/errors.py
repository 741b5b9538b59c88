"""Typed errors raised while parsing polysomnography files.

Every error names the offending file and the problem, so a dataset build can
skip one night with a clear entry in its skip report instead of crashing.
"""

from __future__ import annotations

import os


class PsgError(Exception):
  """Base class: a PSG file could not be used. `str()` is '<path>: <reason>'.

  `stage` names the failed step (class default, or given); `entries` holds the
  report entries `night.read_night` found before the failure.
  """

  stage = 'psg'  # Which step of a build failed (used by `SkipReport`).
  entries: tuple = ()

  def __init__(self, path: str | os.PathLike[str], reason: str, stage: str | None = None):
    self.path = os.fspath(path)
    self.reason = reason
    if stage is not None:
      self.stage = stage
    super().__init__(f'{self.path}: {reason}')

  def __reduce__(self):  # Keep (path, reason, stage) through pickling (multiprocessing).
    return type(self), (self.path, self.reason, self.stage)


class RecordingError(PsgError):
  """An EDF (or other signal file) is unreadable: corrupt, truncated, empty."""

  stage = 'edf'


class AnnotationError(PsgError):
  """A sleep-stage annotation file is malformed or unusable for one night."""

  stage = 'annotation'
