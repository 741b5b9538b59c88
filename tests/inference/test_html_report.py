"""index.html of a predict run: self-contained, and rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from wav2sleep_jax.inference import html_report
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from tests import predict_testutil as util
from tests.model_testutil import random_params, tiny_config

EPOCHS = 20
NAMES = ('shhs/polysomnography/edfs/shhs1/shhs1-200001', 'tables/a', 'tables/b')


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A predict run: one scored EDF night, two table nights and a broken file."""
  cfg = tiny_config(signals=('ECG', 'THX'))
  model = model_lib.StagingModel(cfg, random_params(cfg, seed=0, scale=1.0))
  root = tmp_path_factory.mktemp('in')
  util.write_night(root, 'shhs', hours=EPOCHS / 120, labels=('ECG', 'THOR RES'))
  util.write_table(root / 'tables' / 'a.csv', util.table_signals(EPOCHS, 64.0))
  util.write_table(root / 'tables' / 'b.csv', util.table_signals(EPOCHS, 50.0, seed=1))
  (root / 'tables' / 'broken.parquet').write_bytes(b'PAR1 nonsense')
  out = tmp_path_factory.mktemp('out')
  result = runner.predict_files(
      model,
      root,
      out,
      formats=('html',),
      workers=0,
      progress=False,
      run_info={'command': 'predict --formats=html'})
  assert result.predicted == NAMES
  return out


def test_page_is_self_contained(run_dir):
  page = (run_dir / 'index.html').read_text()
  # Nothing to fetch: no external scripts, styles, images or links.
  assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
  assert '<link' not in page and '<img' not in page
  assert page.count('<svg') == len(NAMES)
  assert page.count('<polygon') == 4 * len(NAMES)  # Probability band: one area per class.
  assert 'predict --formats=html' in page and 'model signals' in page
  assert 'tables/broken.parquet' in page and 'cannot read parquet' in page
  assert page.count('>scored</text>') == 1  # Only the EDF night has scored stages.


def test_svg_hypnogram_draws_each_run():
  from wav2sleep_jax.inference.night_prediction import NightPrediction
  from wav2sleep_jax.core import stages

  stages_S = np.array([0, 0, 1, 1, 3, 2, 0])
  logits_SK = 5.0 * np.eye(4)[stages_S]
  svg = html_report.night_svg(NightPrediction(logits_SK, stages.STAGES_4, name='x'))
  path = re.search(r'<path d="([^"]+)"', svg).group(1)
  # One horizontal segment per run (Wake, Light, REM, Deep, Wake): 5 'H', 4 level changes.
  assert path.count('H') == 5 and path.count('V') == 4 and path.startswith('M48.0 ')
  assert svg.count('<polygon') == 4 and '>0 h</text>' in svg


def _chromium() -> str:
  for name in ('chromium', 'chromium-browser', 'google-chrome'):
    if path := shutil.which(name):
      return path
  pytest.skip('Chromium not found: the HTML report is tested in a headless browser where the '
              'Debian package `chromium` is installed (.ci/run installs it).')


def _browser(page, *args: str, tmp_path) -> subprocess.CompletedProcess:
  command = [
      _chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      f'--user-data-dir={tmp_path / "profile"}', '--virtual-time-budget=3000', *args, page
  ]
  return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_renders_in_headless_chromium(run_dir, tmp_path):
  url = (run_dir / 'index.html').as_uri()
  dom = _browser(url + '#sort=-night', '--dump-dom', tmp_path=tmp_path)
  assert dom.returncode == 0, dom.stderr[-2000:]
  html = dom.stdout
  assert 'data-ready="yes"' in html  # The inline script ran.
  body = re.search(r'<table id="nights"[^>]*>.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
  rows = re.findall(r'<tr>.*?</tr>', body, re.S)
  assert len(rows) == len(NAMES)
  # '#sort=-night' sorted the table by night, descending.
  assert [re.search(r'data-v="([^"]+)"', r).group(1) for r in rows] == list(reversed(NAMES))
  assert 'data-sorted="-night"' in html
  assert html.count('<svg') == len(NAMES)

  shot = tmp_path / 'shot.png'
  result = _browser(url, f'--screenshot={shot}', '--window-size=1100,1400', tmp_path=tmp_path)
  assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
  from matplotlib import image

  rgb = (image.imread(shot)[..., :3] * 255).round().astype(int)
  assert rgb.std() > 20  # Not blank.
  # The stacked probability bands are drawn in the stage colours.
  for name in ('Wake', 'Light', 'REM'):
    color = np.array([int(html_report.COLORS[name][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(rgb - color).max(axis=-1) <= 8).sum() > 50, name


def test_cells_keep_sortable_numbers():
  assert html_report._cell(np.float64(0.25)) == '<td data-v="0.25">0.250</td>'
  assert html_report._cell(float('nan')) == '<td data-v=""></td>'
  assert html_report._cell('<a&b>') == '<td data-v="&lt;a&amp;b&gt;">&lt;a&amp;b&gt;</td>'
