"""Which preprocessing a model's weights expect: recorded with every model.

Two preparations of a night exist, and a model must be run on the one it was
trained with (anything else is a silent distribution shift):

  wav2sleep_jax  ours: anti-aliased polyphase resampling onto the epoch grid,
                 z-score over the night itself (the EMA normaliser for causal
                 models), nights at their own length (exact padding); never crops.
  reference      the reference's (joncarter1/wav2sleep) pipeline, which the
                 published Hub models were trained with: its channel table, unit
                 conversion, linear interpolation onto a fixed grid of `max_hours`
                 (default 10), z-score over the whole grid, and the night run on
                 that full grid (`psg.reference_grid`, `data.normalize`).

A model folder holds `preprocessing.json` ({"name": ..., "max_hours": ...});
reference checkpoints are `reference` with 10 h, models trained here record
the preprocessing of the records they were trained on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Mapping

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import signals as signals_lib

OURS = 'wav2sleep_jax'
REFERENCE = 'reference'
NAMES = (OURS, REFERENCE)
FILE = 'preprocessing.json'
REFERENCE_HOURS = 10  # The reference's TRAINING_LENGTH_HOURS / max_length_hours default.
EPOCHS_PER_HOUR = 3600 // signals_lib.EPOCH_SECONDS


class PreprocessingError(cli.InputError):
  """An unknown, malformed or mismatched preprocessing (one line, exit 2 in commands)."""


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """How nights are prepared for a model.

  Attributes:
    name: OURS or REFERENCE.
    max_hours: REFERENCE only: the length of the grid every night is put on
      (the reference's `max_length_hours`); a longer night's tail is left out
      and reported. None for OURS (nights are never cropped).
  """

  name: str = OURS
  max_hours: float | None = None

  def __post_init__(self):
    if self.name not in NAMES:
      raise PreprocessingError(f'Unknown preprocessing {self.name!r}; known: {", ".join(NAMES)}.')
    if self.name == OURS and self.max_hours is not None:
      raise PreprocessingError(f'max_hours applies to {REFERENCE!r} preprocessing only '
                               f'({OURS!r} never crops a night).')
    if self.name == REFERENCE:
      hours = self.max_hours
      if (isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours)
          or hours <= 0 or abs(hours * EPOCHS_PER_HOUR - round(hours * EPOCHS_PER_HOUR)) > 1e-9):
        raise PreprocessingError(f'max_hours must be a positive number of whole 30-s epochs, '
                                 f'got {hours!r}.')

  @property
  def is_reference(self) -> bool:
    return self.name == REFERENCE

  @property
  def grid_epochs(self) -> int | None:
    """Epochs of the reference grid (None for OURS)."""
    if self.max_hours is None:
      return None
    return int(round(self.max_hours * EPOCHS_PER_HOUR))

  def describe(self) -> str:
    """One line, e.g. 'reference (10-h grid)'."""
    if self.is_reference:
      return f'{REFERENCE} ({self.max_hours:g}-h grid)'
    return OURS

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def reference(max_hours: float = REFERENCE_HOURS) -> Preprocessing:
  return Preprocessing(REFERENCE, max_hours)


def from_name(name: str, max_hours: float | None = None) -> Preprocessing:
  """`name` with `max_hours` (REFERENCE: default 10 h); ValueError naming the problem."""
  if name == REFERENCE:
    return reference(REFERENCE_HOURS if max_hours is None else max_hours)
  return Preprocessing(name, max_hours)


def from_dict(raw: Mapping[str, Any], where: str = 'preprocessing') -> Preprocessing:
  if not isinstance(raw, Mapping) or set(raw) - {'name', 'max_hours'} or 'name' not in raw:
    raise PreprocessingError(f'{where}: expected {{"name": ..., "max_hours": ...}}, got {raw!r}.')
  try:
    return Preprocessing(raw['name'], raw.get('max_hours'))
  except ValueError as e:
    raise PreprocessingError(f'{where}: {e}') from None


def to_json(prep: Preprocessing) -> str:
  """The stored form (model folders, records): JSON {"name": ..., "max_hours": ...}."""
  return json.dumps(prep.to_dict(), sort_keys=True)


def from_json(text: str | bytes, where: str = 'preprocessing') -> Preprocessing:
  """`to_json`'s inverse; '' (records built before it was stored) is OURS."""
  text = text.decode() if isinstance(text, bytes) else text
  if not text:
    return Preprocessing()
  try:
    raw = json.loads(text)
  except json.JSONDecodeError as e:
    raise PreprocessingError(f'{where}: not valid JSON ({e})') from None
  return from_dict(raw, where)


def save(directory: str | pathlib.Path, prep: Preprocessing) -> None:
  (pathlib.Path(directory) / FILE).write_text(to_json(prep) + '\n')


def load(directory: str | pathlib.Path) -> Preprocessing:
  """The model folder's preprocessing; OURS if it records none (models from before)."""
  path = pathlib.Path(directory) / FILE
  if not path.is_file():
    return Preprocessing()
  try:
    text = path.read_text()
  except UnicodeDecodeError as e:
    raise PreprocessingError(f'{path}: not text ({e})') from None
  return from_json(text or '{}', str(path))


def mismatch(expected: Preprocessing, given: Preprocessing) -> str | None:
  """Why `given` is not `expected` (one clause), or None if they agree."""
  if expected == given:
    return None
  return f'the model expects {expected.describe()} preprocessing, got {given.describe()}'
