"""`index.html`: a self-contained report of a prediction run (no network, inline SVG).

  figure = night_svg(prediction)        # per night, while the run streams
  write_report('out/', summary_rows, skip_report, {'n': figure}, model_info)

The page has a table of nights (statistics, kappa when scored; click a header
to sort, or open `index.html#sort=kappa` / `#sort=-kappa`), each night's
hypnogram (scored above predicted, the stage probabilities as a stacked band),
the skip report, and the model and command of the run.
"""

from __future__ import annotations

import datetime
import html
import math
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from wav2sleep_jax.inference import hypnogram_plot

if TYPE_CHECKING:
  from wav2sleep_jax.inference.night_prediction import NightPrediction
  from wav2sleep_jax.psg.skip_report import SkipReport

REPORT_FILE = 'index.html'
COLORS = {
    'Wake': '#f4a261',
    'N1': '#8ecae6',
    'N2': '#219ebc',
    'N3': '#023047',
    'Light': '#5fa8d3',
    'Deep': '#023047',
    'REM': '#e63946'
}
# (summary.csv column, table header), shown when present.
COLUMNS = (('night', 'night'), ('hours', 'hours'), ('signals', 'signals'), ('kappa', 'kappa'),
           ('accuracy', 'accuracy'), ('tst_min', 'TST min'), ('sleep_efficiency_pct', 'SE %'),
           ('waso_min', 'WASO min'), ('sleep_onset_latency_min', 'SOL min'),
           ('rem_latency_from_sleep_onset_min', 'REM lat. min'), ('sleep_fragmentation_index_per_h',
                                                                  'SFI /h'),
           ('wake_min', 'Wake min'), ('n1_pct', 'N1 %'), ('n2_pct', 'N2 %'), ('n3_pct', 'N3 %'),
           ('light_pct', 'Light %'), ('deep_pct', 'Deep %'), ('rem_pct', 'REM %'))
_WIDTH, _LEFT, _ROW, _BAND, _BINS = 900, 48, 14, 46, 300


def _step_path(stages_S: np.ndarray, names: Sequence[str], top: float, scale: float) -> str:
  """SVG path of a hypnogram: a horizontal segment per run of equal stages."""
  y_S, order = hypnogram_plot.stage_levels(stages_S, names)
  parts, previous = [], None
  for i, y in enumerate(y_S):
    if math.isnan(y):
      previous = None
      continue
    py = top + (len(order) - 1 - y) * _ROW + _ROW / 2
    x0, x1 = _LEFT + i * scale, _LEFT + (i + 1) * scale
    if previous is None:
      parts.append(f'M{x0:.1f} {py:.0f}')
    elif previous != py:
      parts.append(f'V{py:.0f}')
    if i + 1 == len(y_S) or y_S[i + 1] != y:
      parts.append(f'H{x1:.1f}')
    previous = py
  return ''.join(parts)


def _hypnogram(stages_S, names, top: float, scale: float, label: str, color: str) -> list[str]:
  _, order = hypnogram_plot.stage_levels(stages_S[:1], names)
  out = [f'<text x="2" y="{top - 3:.0f}" class="lbl">{label}</text>']
  for r, name in enumerate(order):
    out.append(f'<text x="{_LEFT - 4}" y="{top + r * _ROW + _ROW / 2 + 4:.0f}" '
               f'class="tick">{html.escape(name)}</text>')
  out.append(f'<path d="{_step_path(stages_S, names, top, scale)}" stroke="{color}" '
             'fill="none" stroke-width="1.5"/>')
  return out


def _band(probs_SK: np.ndarray, names: Sequence[str], top: float) -> list[str]:
  """Stacked probabilities, averaged into at most `_BINS` columns."""
  s = len(probs_SK)
  bins = min(s, _BINS)
  edges = np.linspace(0, s, bins + 1).round().astype(int)
  mean_BK = np.stack([probs_SK[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])
  cum_BK = np.concatenate([np.zeros((bins, 1)), np.cumsum(mean_BK, axis=1)], axis=1)
  width = (_WIDTH - _LEFT) / bins
  out = [f'<text x="2" y="{top - 3:.0f}" class="lbl">probabilities</text>']
  for k, name in enumerate(names):
    upper = [(_LEFT + j * width, _LEFT + (j + 1) * width, top + _BAND * cum_BK[j, k])
             for j in range(bins)]
    lower = [(_LEFT + j * width, _LEFT + (j + 1) * width, top + _BAND * cum_BK[j, k + 1])
             for j in reversed(range(bins))]
    points = [f'{a:.1f},{y:.1f} {b:.1f},{y:.1f}' for a, b, y in upper]
    points += [f'{b:.1f},{y:.1f} {a:.1f},{y:.1f}' for a, b, y in lower]
    out.append(f'<polygon points="{" ".join(points)}" fill="{COLORS.get(name, "#999")}">'
               f'<title>{html.escape(name)}</title></polygon>')
  return out


def night_svg(prediction: NightPrediction) -> str:
  """Inline SVG: scored hypnogram (if any) above the predicted one, probabilities below."""
  names = prediction.stage_names
  s = prediction.num_epochs
  scale = (_WIDTH - _LEFT) / max(s, 1)
  block = len(names) * _ROW + 18
  parts, top = [], 16.0
  if prediction.labels_S is not None:
    parts += _hypnogram(np.asarray(prediction.labels_S), names, top, scale, 'scored', '#555')
    top += block
  parts += _hypnogram(prediction.stages_S, names, top, scale, 'predicted', '#1d5fa8')
  top += block
  parts += _band(prediction.probabilities_SK, names, top)
  hours = s * 30 / 3600
  axis = top + _BAND + 14
  for h in range(int(hours) + 1):
    x = _LEFT + h * 3600 / 30 * scale
    parts.append(f'<text x="{x:.1f}" y="{axis:.0f}" class="tick" text-anchor="middle">'
                 f'{h} h</text>')
  height = axis + 4
  return (f'<svg xmlns="http://www.w3.org/2000/svg" class="hypnogram" width="{_WIDTH}" '
          f'height="{height:.0f}" viewBox="0 0 {_WIDTH} {height:.0f}" role="img" '
          f'aria-label="hypnogram of {html.escape(prediction.name)}">' + ''.join(parts) + '</svg>')


def _cell(value: Any) -> str:
  if isinstance(value, (float, np.floating)):
    value = float(value)  # repr of a NumPy float is 'np.float64(...)'.
    if math.isnan(value):
      return '<td data-v=""></td>'
    return f'<td data-v="{value!r}">{value:.3f}</td>' if abs(value) < 10 else (
        f'<td data-v="{value!r}">{value:.1f}</td>')
  return f'<td data-v="{html.escape(str(value))}">{html.escape(str(value))}</td>'


def _nights_table(rows: Sequence[Mapping[str, Any]]) -> str:
  columns = [(key, title) for key, title in COLUMNS if rows and key in rows[0]]
  head = ''.join(f'<th data-key="{key}" onclick="sortBy(\'{key}\')">{html.escape(title)}</th>'
                 for key, title in columns)
  body = []
  for i, row in enumerate(rows):
    name = html.escape(str(row['night']))
    cells = ''.join(f'<td data-v="{name}"><a href="#night-{i}">{name}</a></td>' if key ==
                    'night' else _cell(row.get(key, '')) for key, _ in columns)
    body.append(f'<tr>{cells}</tr>')
  return (f'<table id="nights"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
          '</tbody></table>')


def _skip_table(report: SkipReport | None) -> str:
  if report is None or not len(report):
    return '<p id="skipped-none">Nothing was skipped.</p>'
  head = ''.join(f'<th>{c}</th>' for c in ('record', 'file', 'stage', 'reason', 'action'))
  body = ''.join('<tr>' + ''.join(f'<td>{html.escape(str(v))}</td>'
                                  for v in (e.record_id, e.path, e.stage, e.reason, e.action)) +
                 '</tr>'
                 for e in report.entries)
  return (f'<p>{html.escape(report.summary_text())}</p><table id="skipped"><thead><tr>{head}'
          f'</tr></thead><tbody>{body}</tbody></table>')


_SCRIPT = """
function sortBy(key, descending) {
  const table = document.getElementById('nights');
  const col = [...table.tHead.rows[0].cells].findIndex(c => c.dataset.key === key);
  if (col < 0) return;
  const head = table.tHead.rows[0].cells[col];
  const desc = descending === undefined ? head.dataset.dir === 'asc' : descending;
  const body = table.tBodies[0];
  const value = r => r.cells[col].dataset.v;
  const rows = [...body.rows].sort((a, b) => {
    const x = value(a), y = value(b), nx = parseFloat(x), ny = parseFloat(y);
    if (x === '' || y === '') return (x === '') - (y === '');
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return desc ? -c : c;
  });
  rows.forEach(r => body.appendChild(r));
  [...table.tHead.rows[0].cells].forEach(c => delete c.dataset.dir);
  head.dataset.dir = desc ? 'desc' : 'asc';
  table.dataset.sorted = (desc ? '-' : '') + key;
}
const m = location.hash.match(/^#sort=(-?)([a-z0-9_]+)$/);
if (m) sortBy(m[2], m[1] === '-');
document.body.dataset.ready = 'yes';
"""
_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222} table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:right}
th{background:#eee;cursor:pointer} td:first-child{text-align:left}
th[data-dir=asc]::after{content:' \\25B2'} th[data-dir=desc]::after{content:' \\25BC'}
.lbl{font-size:11px;fill:#333} .tick{font-size:10px;fill:#555;text-anchor:end}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px} dt{font-weight:bold}
.legend span{display:inline-block;padding:1px 8px;margin-right:4px;color:#fff;font-size:12px}
"""


def _legend(names: Sequence[str]) -> str:
  return '<p class="legend">' + ''.join(
      f'<span style="background:{COLORS.get(n, "#999")}">{html.escape(n)}</span>'
      for n in names) + '</p>'


def render(rows: Sequence[Mapping[str, Any]],
           report: SkipReport | None,
           figures: Mapping[str, str],
           info: Mapping[str, str],
           stage_names: Sequence[str] = ()) -> str:
  """The page as text (see `write_report`)."""
  meta = ''.join(
      f'<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>' for k, v in info.items())
  sections = []
  for i, row in enumerate(rows):
    title = html.escape(row['night'])
    kappa = row.get('kappa', math.nan)
    if isinstance(kappa, float) and not math.isnan(kappa):
      title += f' <small>(kappa {kappa:.3f})</small>'
    sections.append(f'<section id="night-{i}"><h3>{title}</h3>'
                    f'{figures.get(row["night"], "<p>No figure.</p>")}</section>')
  skipped = len({e.record_id for e in report.entries if e.action == 'night skipped'
                }) if report is not None else 0
  return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
          '<title>wav2sleep predictions</title>'
          f'<style>{_STYLE}</style></head><body><h1>wav2sleep predictions</h1>'
          f'<p id="counts">{len(rows)} night(s) staged, {skipped} skipped.</p>'
          f'<dl id="run">{meta}</dl><h2>Nights</h2>{_nights_table(rows)}'
          f'<h2>Hypnograms</h2>{_legend(stage_names)}{"".join(sections)}'
          f'<h2>Skipped</h2>{_skip_table(report)}<script>{_SCRIPT}</script></body></html>')


def write_report(output_dir: str | os.PathLike[str],
                 rows: Sequence[Mapping[str, Any]],
                 report: SkipReport | None,
                 figures: Mapping[str, str],
                 info: Mapping[str, str] | None = None,
                 stage_names: Sequence[str] = ()) -> str:
  """Writes `index.html` into `output_dir`; returns its path.

  Args:
    rows: summary.csv rows (dicts with 'night' and statistics columns).
    report: the run's skip report.
    figures: night name -> `night_svg` output.
    info: lines about the run (model, command, ...), shown in order.
    stage_names: the model's classes (legend).
  """
  info = {
      'generated': datetime.datetime.now().isoformat(sep=' ', timespec='seconds'),
      **(info or {})
  }
  path = os.path.join(os.fspath(output_dir), REPORT_FILE)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(render(rows, report, figures, info, stage_names))
  return path
