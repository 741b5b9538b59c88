"""A training run's directory (WORKDIR): the one place its layout is spelled.

  config.json       the run's config, written when the run starts (what evaluate rebuilds from)
  checkpoints/      training state, one folder per step (orbax)
  best/             parameters of the best validation step
  model/            the best model, exported when training ends (models.io)
  metrics.json      the training result: status, steps, the test table and its coverage
  tensorboard/      training scalars
  eval/<split>/     reports of `wav2sleep_jax.evaluate`
  data/             the demo's generated cohorts (config.prepare = 'synthetic')
  train.lock        held while a trainer runs
  previous/<time>/  a run moved aside (--on_config_change=new_run)
  corrupt/          checkpoint steps that could not be restored

Training (training/) and evaluation (evaluation/) both read and write it, so it lives
below both.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

import ml_collections

from wav2sleep_jax.core import cli

CONFIG_FILE = 'config.json'
CHECKPOINTS_DIR = 'checkpoints'
BEST_DIR = 'best'
MODEL_DIR = 'model'
METRICS_FILE = 'metrics.json'
TENSORBOARD_DIR = 'tensorboard'
EVAL_DIR = 'eval'
DATA_DIR = 'data'
LOCK_FILE = 'train.lock'
PREVIOUS_DIR = 'previous'
CORRUPT_DIR = 'corrupt'
# What a new run moves aside (the generated data stays).
RUN_OUTPUTS = (CHECKPOINTS_DIR, BEST_DIR, MODEL_DIR, METRICS_FILE, CONFIG_FILE, TENSORBOARD_DIR,
               EVAL_DIR)


@dataclasses.dataclass(frozen=True)
class RunDir:
  """Paths of one run directory (nothing is created)."""
  path: pathlib.Path

  def __init__(self, path: str | os.PathLike[str]):
    object.__setattr__(self, 'path', pathlib.Path(path).expanduser().absolute())

  config_file = property(lambda self: self.path / CONFIG_FILE)
  checkpoints = property(lambda self: self.path / CHECKPOINTS_DIR)
  best = property(lambda self: self.path / BEST_DIR)
  model = property(lambda self: self.path / MODEL_DIR)
  metrics_file = property(lambda self: self.path / METRICS_FILE)
  tensorboard = property(lambda self: self.path / TENSORBOARD_DIR)
  generated_data = property(lambda self: self.path / DATA_DIR)
  lock_file = property(lambda self: self.path / LOCK_FILE)
  previous = property(lambda self: self.path / PREVIOUS_DIR)

  def eval_dir(self, split: str) -> pathlib.Path:
    return self.path / EVAL_DIR / split

  def has_run(self) -> bool:
    """Something a restart would resume or overwrite: checkpoint steps or a model."""
    steps = [
        p for folder in (self.checkpoints, self.best) for p in folder.glob('*') if p.name.isdigit()
    ]
    return bool(steps) or self.model.exists()

  def data_dir(self, config: ml_collections.ConfigDict, override: str | None = None) -> str | None:
    """The run's TFDS data dir: `override`, config.data_dir, the demo's data/; None = TFDS's."""
    if override:
      return str(pathlib.Path(override).expanduser())
    if config.get('data_dir'):
      return str(pathlib.Path(config.data_dir).expanduser())
    if config.get('prepare') == 'synthetic':
      return str(self.generated_data)
    return None

  def write_config(self, config: ml_collections.ConfigDict) -> None:
    """config.json, written atomically (the caller picks the process that writes)."""
    tmp = self.config_file.with_name(f'{CONFIG_FILE}.tmp-{os.getpid()}')
    tmp.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + '\n')
    os.replace(tmp, self.config_file)

  def read_config(self) -> ml_collections.ConfigDict:
    """The run's config; FileNotFoundError (no workdir / config.json), InputError (bad)."""
    if not self.path.is_dir():
      raise FileNotFoundError(f'Workdir {self.path} does not exist.')
    path = self.config_file
    if not path.is_file():
      raise FileNotFoundError(
          f'{path} not found: evaluation needs the training config that wav2sleep_jax.train '
          'writes there. Rerun the same training command on this workdir to write it (a '
          'finished run does not train again).')
    try:
      return ml_collections.ConfigDict(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as e:  # Bad JSON, or not an object.
      raise cli.InputError(f'{path} is not a valid run config: {e}') from e

  def write_metrics(self, result: dict[str, Any]) -> None:
    self.metrics_file.write_text(json.dumps(result, indent=2, default=float))

  def trained_step(self) -> int:
    """Step of the model in model/ (the best step training recorded), else 0."""
    if not self.metrics_file.is_file():
      return 0
    recorded = json.loads(self.metrics_file.read_text())
    step = recorded.get('best_step', -1)
    return int(step) if step is not None and step >= 0 else int(recorded.get('step', 0))
