"""`NightPrediction`: one staged night, its tables, statistics and plots.

  night.stage_names_S, night.probabilities_SK, night.kappa, night.stats()
  night.write_csv('night.preds.csv'); night.plot('night.png')
  night.to_yasa()                       # yasa.Hypnogram with `proba` (yasa is optional)
  night.write_tsv('night_hypnogram.tsv')  # + .json; also write_edf_annotations, write_nsrr_xml
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import math
import os
from typing import Any

import numpy as np

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.evaluation import metrics
from wav2sleep_jax.inference import hypnogram_formats
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

  def rows(self) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the per-epoch table written by `write_csv`."""
    labels = self.labels_S is not None
    header = ['Timestamp', 'Pred'] + (['Stage'] if labels else []) + [
        'onset_s', 'duration_s', 'pred_stage'] + (['scored_stage'] if labels else []) + [
            f'prob_{n}' for n in self.stage_names]
    probs_SK, stages_S = self.probabilities_SK, self.stages_S
    rows = []
    for i, stamp in enumerate(self.timestamps):
      row = [stamp if isinstance(stamp, float) else stamp.isoformat(sep=' '),
             int(stages_S[i])]
      if labels:
        row.append(int(self.labels_S[i]))
      row += [EPOCH_SECONDS * i, EPOCH_SECONDS, self.stage_names[stages_S[i]]]
      if labels:
        row.append(self.stage_names[self.labels_S[i]] if self.labels_S[i] >= 0 else '')
      row += [f'{p:.5f}' for p in probs_SK[i]]
      rows.append(row)
    return header, rows

  def write_csv(self, path: str | os.PathLike[str]) -> str:
    """Writes the per-epoch table (see the README's 'Prediction' section)."""
    header, rows = self.rows()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', newline='', encoding='utf-8') as f:
      writer = csv.writer(f, lineterminator='\n')
      writer.writerow(header)
      writer.writerows(rows)
    return path

  def write_tsv(self, path: str | os.PathLike[str]) -> tuple[str, str]:
    """BIDS-style `<name>_hypnogram.tsv` + JSON sidecar (`hypnogram_formats.write_tsv`)."""
    return hypnogram_formats.write_tsv(self, path)

  def write_edf_annotations(self, path: str | os.PathLike[str]) -> str:
    """EDF+ file with only stage annotations (`hypnogram_formats.write_edf_annotations`)."""
    return hypnogram_formats.write_edf_annotations(self, path)

  def write_nsrr_xml(self, path: str | os.PathLike[str]) -> str:
    """NSRR XML stage events (`hypnogram_formats.write_nsrr_xml`)."""
    return hypnogram_formats.write_nsrr_xml(self, path)

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
    return yasa.Hypnogram(values, n_stages=len(labels), freq=f'{EPOCH_SECONDS}s',
                          start=self.start, scorer=scorer, proba=proba)

  def hypnogram(self, ax=None):
    """Hypnogram `Figure` (predicted, and scored when labels exist); see `plot_hypnogram`."""
    from wav2sleep_jax.inference import hypnogram_plot

    title = self.name or 'night'
    if self.scored_epochs:
      title += f'  (kappa {self.kappa:.3f} over {self.scored_epochs} scored epochs)'
    return hypnogram_plot.plot_hypnogram(self.stages_S, self.stage_names,
                                         scored_S=self.labels_S, title=title, ax=ax)

  def plot(self, path: str | os.PathLike[str]) -> str:
    """Writes the hypnogram as a PNG; returns its path."""
    from wav2sleep_jax.inference import hypnogram_plot

    return hypnogram_plot.save_png(self.hypnogram(), path)

  def summary_row(self) -> dict[str, Any]:
    """One `summary.csv` row: length, signals, sleep statistics, kappa."""
    row = {'night': self.name,
           'start_time': self.start.isoformat(sep=' ') if self.start else '',
           'epochs': self.num_epochs,
           'hours': self.num_epochs * EPOCH_SECONDS / 3600.0,
           'signals': '+'.join(self.signals)}
    row.update(self.stats().as_row())
    row.update(scored_epochs=self.scored_epochs,
               kappa=self.kappa if self.scored_epochs else math.nan,
               accuracy=self.accuracy if self.scored_epochs else math.nan)
    return row
