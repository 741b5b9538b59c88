"""Hypnogram plots: predicted stages, and the scored ones when known.

`plot_hypnogram` returns a matplotlib `Figure` (or draws into a given `Axes`) and never
touches pyplot or the global backend, so it works in notebooks and on headless machines;
`save_png` writes a figure through an explicit Agg canvas. matplotlib is imported lazily.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from wav2sleep_jax.core import signals as signals_lib

# Rows from top to bottom (clinical convention): Wake, REM, then deepening sleep.
_ROW_ORDER = {
    ('Wake', 'N1', 'N2', 'N3', 'REM'): ('Wake', 'REM', 'N1', 'N2', 'N3'),
    ('Wake', 'Light', 'Deep', 'REM'): ('Wake', 'REM', 'Light', 'Deep')
}


def stage_levels(stages_S: np.ndarray,
                 stage_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
  """(y value per epoch, top row highest, NaN if unscored; row names top down)."""
  order = _ROW_ORDER.get(tuple(stage_names), tuple(stage_names))
  height = {name: len(order) - 1 - i for i, name in enumerate(order)}
  lookup = np.array([height[n] for n in stage_names], dtype=np.float64)
  stages_S = np.asarray(stages_S)
  return np.where(stages_S >= 0, lookup[np.clip(stages_S, 0, None)], np.nan), order


def _step(ax, stages_S, stage_names, color, label):
  y, order = stage_levels(stages_S, stage_names)
  hours = np.arange(len(y) + 1) * signals_lib.EPOCH_SECONDS / 3600.0
  # Repeat the last value so the final epoch is drawn to its end.
  ax.step(
      hours,
      np.append(y, y[-1] if len(y) else np.nan),
      where='post',
      color=color,
      linewidth=0.9,
      label=label)
  ax.set_yticks(range(len(order)), list(reversed(order)))
  ax.set_ylim(-0.5, len(order) - 0.5)
  ax.set_xlim(0, hours[-1])
  ax.grid(axis='y', alpha=0.3)


def plot_hypnogram(predicted_S: np.ndarray,
                   stage_names: Sequence[str],
                   scored_S: np.ndarray | None = None,
                   title: str = '',
                   ax=None):
  """Draws a hypnogram; returns the matplotlib `Figure` (as yasa and sleepecg do).

  Args:
    predicted_S: int [S] predicted class per 30-s epoch.
    stage_names: class names (e.g. `StagingModel.stage_names`).
    scored_S: optional int [S] scored classes (-1 unscored, drawn as gaps). Without
      `ax`: a 'scored' panel above the predicted one; with `ax`: drawn in the same axes.
    title: figure title (e.g. the night's name and kappa).
    ax: optional matplotlib `Axes` to draw into; by default a new `Figure` (no pyplot,
      no backend switch) with one panel, or two with `scored_S`.
  """
  if ax is not None:
    if scored_S is not None:
      _step(ax, scored_S, stage_names, 'tab:gray', 'scored')
    _step(ax, predicted_S, stage_names, 'tab:blue', 'predicted')
    ax.set_xlabel('hours from recording start')
    if scored_S is not None:
      ax.legend(loc='upper right', fontsize=8)
    if title:
      ax.set_title(title, fontsize=10)
    return ax.figure
  from matplotlib import figure

  rows = 1 if scored_S is None else 2
  fig = figure.Figure(figsize=(12, 1.9 * rows + 0.6), layout='constrained')
  axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
  if scored_S is not None:
    _step(axes[0], scored_S, stage_names, 'tab:gray', 'scored')
    axes[0].set_ylabel('scored')
  _step(axes[-1], predicted_S, stage_names, 'tab:blue', 'predicted')
  axes[-1].set_ylabel('predicted')
  axes[-1].set_xlabel('hours from recording start')
  if title:
    fig.suptitle(title, fontsize=10)
  return fig


def save_png(fig, path: str | os.PathLike[str], dpi: int = 100) -> str:
  """Writes `fig` as a PNG through an explicit Agg canvas (no global backend); returns the path."""
  from matplotlib.backends import backend_agg

  path = os.fspath(path)
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  backend_agg.FigureCanvasAgg(fig)  # Attaches itself to `fig`.
  fig.savefig(path, dpi=dpi, format='png')
  return path
