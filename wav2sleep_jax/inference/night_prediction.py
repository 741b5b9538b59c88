"""`NightPrediction`: one staged night as a value: stages, probabilities, statistics, kappa.

  night.stage_names_S, night.probabilities_SK, night.kappa, night.stats()
  night.hypnogram()                     # matplotlib Figure (saved by the caller)
  night.to_yasa()                       # yasa.Hypnogram with `proba` (yasa is optional)

Its files (csv, tsv, edf, xml, png) are written by `hypnogram_formats` (`WRITERS`).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from typing import Any

import numpy as np

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.evaluation import metrics
from wav2sleep_jax.inference import hypnogram_plot
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import sleep_stats

EPOCH_SECONDS = signals_lib.EPOCH_SECONDS


@dataclasses.dataclass(frozen=True)
class NightPrediction:
  """Model output for one night.

  Attributes:
    logits_SK: float32 [S, K].
    stage_names: the K class names.
    labels_S: scored classes in the model's class space (-1 unscored), or None.
    start: wall-clock start of the recording, None if unknown.
    name: the night's name (input path relative to the input folder).
    signals: the signals the model used.
  """

  logits_SK: np.ndarray
  stage_names: tuple[str, ...]
  labels_S: np.ndarray | None = None
  start: datetime.datetime | None = None
  name: str = ''
  signals: tuple[str, ...] = ()

  @property
  def num_epochs(self) -> int:
    return self.logits_SK.shape[0]

  @property
  def probabilities_SK(self) -> np.ndarray:
    return model_lib.softmax(self.logits_SK)

  @property
  def stages_S(self) -> np.ndarray:
    """Predicted class per epoch (int)."""
    return self.logits_SK.argmax(axis=-1)

  @property
  def stage_names_S(self) -> list[str]:
    return [self.stage_names[c] for c in self.stages_S]

  @property
  def timestamps(self) -> list[datetime.datetime] | list[float]:
    """End of each epoch: wall-clock time if `start` is known, else seconds."""
    ends = [EPOCH_SECONDS * (i + 1) for i in range(self.num_epochs)]
    if self.start is None:
      return [float(t) for t in ends]
    return [self.start + datetime.timedelta(seconds=t) for t in ends]

  @property
  def scored_epochs(self) -> int:
    return 0 if self.labels_S is None else int((self.labels_S >= 0).sum())

  def confusion(self) -> np.ndarray:
    """[K, K] counts over scored epochs (rows scored, columns predicted)."""
    k = len(self.stage_names)
    if self.labels_S is None:
      return np.zeros((k, k), np.int64)
    return metrics.host_confusion_matrix(self.labels_S, self.stages_S, k)

  @property
  def kappa(self) -> float:
    """Cohen's kappa against the scored labels (NaN without labels)."""
    return metrics.cohen_kappa(self.confusion())

  @property
  def accuracy(self) -> float:
    return metrics.accuracy(self.confusion())

  def stats(self, **kwargs) -> sleep_stats.SleepStats:
    """Sleep statistics of the predicted stages (kwargs: `sleep_statistics`)."""
    return sleep_stats.sleep_statistics(self.stages_S, self.stage_names, **kwargs)

  def to_yasa(self, scored: bool = False):
    """The stages as a `yasa.Hypnogram` (30 s, start time, `proba` per stage).

    4 classes give yasa's WAKE/LIGHT/DEEP/REM, 5 classes WAKE/N1/N2/N3/REM.
    `scored=True` returns the scored labels instead (unscored epochs 'UNS', no
    `proba`). Needs the optional `yasa` package (`pip install wav2sleep_jax[yasa]`).
    """
    try:
      import yasa
    except ImportError as e:
      raise ImportError('NightPrediction.to_yasa needs yasa: pip install '
                        "'wav2sleep_jax[yasa]'.") from e
    import pandas as pd

    labels = [n.upper() for n in self.stage_names]
    if scored:
      if self.labels_S is None:
        raise ValueError(f'{self.name or "This night"} has no scored labels.')
      values = [labels[s] if s >= 0 else 'UNS' for s in self.labels_S]
      proba, scorer = None, 'scored'
    else:
      values = [labels[s] for s in self.stages_S]
      proba = pd.DataFrame(self.probabilities_SK.astype(np.float64), columns=labels)
      proba = proba.div(proba.sum(axis=1), axis=0)  # Exact sums for yasa's check.
      scorer = 'wav2sleep'
    return yasa.Hypnogram(
        values,
        n_stages=len(labels),
        freq=f'{EPOCH_SECONDS}s',
        start=self.start,
        scorer=scorer,
        proba=proba)

  def hypnogram(self, ax=None):
    """Hypnogram `Figure` (predicted, and scored when labels exist); see `plot_hypnogram`."""
    title = self.name or 'night'
    if self.scored_epochs:
      title += f'  (kappa {self.kappa:.3f} over {self.scored_epochs} scored epochs)'
    return hypnogram_plot.plot_hypnogram(
        self.stages_S, self.stage_names, scored_S=self.labels_S, title=title, ax=ax)

  def summary_row(self) -> dict[str, Any]:
    """One `summary.csv` row: length, signals, sleep statistics, kappa."""
    row = {
        'night': self.name,
        'start_time': self.start.isoformat(sep=' ') if self.start else '',
        'epochs': self.num_epochs,
        'hours': self.num_epochs * EPOCH_SECONDS / 3600.0,
        'signals': '+'.join(self.signals)
    }
    row.update(self.stats().as_row())
    row.update(
        scored_epochs=self.scored_epochs,
        kappa=self.kappa if self.scored_epochs else math.nan,
        accuracy=self.accuracy if self.scored_epochs else math.nan)
    return row
