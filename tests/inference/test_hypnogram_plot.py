"""Hypnogram and confusion plots return matplotlib objects and leave the backend alone."""

from __future__ import annotations

import matplotlib
from matplotlib import figure
import numpy as np
import pytest

from wav2sleep_jax.core import stages
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.inference import hypnogram_plot


@pytest.fixture
def svg_backend():
  before = matplotlib.get_backend()
  matplotlib.use('svg')
  yield
  matplotlib.use(before)


def test_plot_hypnogram_returns_figure_without_switching_backend(svg_backend):
  pred_S = np.array([0, 1, 2, 2, 3, 4, 0])
  scored_S = np.array([0, 1, 2, -1, 3, 4, 4])
  fig = hypnogram_plot.plot_hypnogram(pred_S, stages.STAGES_5, scored_S=scored_S, title='n')
  assert isinstance(fig, figure.Figure)
  assert len(fig.axes) == 2
  assert matplotlib.get_backend() == 'svg'
  # Rows top down: Wake, REM, N1, N2, N3; the last predicted epoch is drawn to its end.
  assert [t.get_text() for t in fig.axes[-1].get_yticklabels()
         ][::-1] == ['Wake', 'REM', 'N1', 'N2', 'N3']
  y = fig.axes[-1].lines[0].get_ydata()
  np.testing.assert_array_equal(y, [4, 2, 1, 1, 0, 3, 4, 4])
  assert np.isnan(fig.axes[0].lines[0].get_ydata()[3])  # Unscored epoch: a gap.


def test_plot_hypnogram_draws_into_given_axes(tmp_path):
  fig = figure.Figure()
  ax = fig.subplots()
  out = hypnogram_plot.plot_hypnogram(
      np.array([0, 1, 3]), stages.STAGES_4, scored_S=np.array([0, 1, 2]), ax=ax)
  assert out is fig and len(fig.axes) == 1 and len(ax.lines) == 2
  path = hypnogram_plot.save_png(fig, tmp_path / 'sub' / 'h.png')
  with open(path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_confusion_figure_returns_figure_and_takes_axes(svg_backend):
  cm = np.array([[5, 1], [0, 4]])
  fig = tables.confusion_figure(cm, ('Wake', 'Sleep'), 'title')
  assert isinstance(fig, figure.Figure) and len(fig.axes) == 1
  own = figure.Figure()
  ax = own.subplots()
  assert tables.confusion_figure(cm, ('Wake', 'Sleep'), 'title', ax=ax) is own
  assert [t.get_text() for t in ax.texts][:2] == ['83%\n(5)', '17%\n(1)']
  assert matplotlib.get_backend() == 'svg'
