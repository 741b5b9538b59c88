"""Output files of a prediction run: per-night files, the summary table and the report.

Per night (`formats`, default all): the writers of `hypnogram_formats.WRITERS`
(csv, tsv, edf, xml, png). Per run: summary.csv (one row per staged night: sleep
statistics, kappa) always, and
  html  index.html                   the report of the run (`html_report`)
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any, Mapping, Sequence

from wav2sleep_jax.inference import html_report
from wav2sleep_jax.inference import hypnogram_formats as formats_lib
from wav2sleep_jax.inference.night_prediction import NightPrediction

SUMMARY_FILE = 'summary.csv'
REPORT_FILE = html_report.REPORT_FILE
REPORT_FORMAT = 'html'
FORMATS = (*formats_lib.WRITERS, REPORT_FORMAT)


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
  """`formats` lower-cased and checked against `FORMATS` (ValueError names the unknown)."""
  if isinstance(formats, str):
    formats = formats.split(',')
  chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
  unknown = [f for f in chosen if f not in FORMATS]
  if unknown:
    raise ValueError(f'Unknown output format(s) {unknown}; choose from {",".join(FORMATS)}.')
  return chosen


def write_outputs(prediction: NightPrediction,
                  output_dir: str | os.PathLike[str],
                  formats: Sequence[str] = FORMATS) -> list[str]:
  """Writes the per-night files of `formats` under `output_dir`; returns their paths."""
  formats = check_formats(formats)
  base = os.path.join(os.fspath(output_dir), prediction.name or 'night')
  paths = []
  for fmt in formats_lib.WRITERS:
    if fmt in formats:
      paths += formats_lib.write(prediction, fmt, base)
  return paths


def _format(value: Any) -> Any:
  if isinstance(value, float):
    return '' if math.isnan(value) else round(value, 4)
  return value


def write_summary(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> str:
  """Writes summary rows (dicts with the same keys) as CSV, NaN as empty."""
  path = os.fspath(path)
  header = list(rows[0]) if rows else ['night']
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(header)
    writer.writerows([_format(row[c]) for c in header] for row in rows)
  return path


def model_info(model) -> dict[str, str]:
  """Lines about a `StagingModel` for the report: signals, classes, size."""
  import jax

  cfg = model.config
  params = sum(int(x.size) for x in jax.tree.leaves(model.params))
  return {
      'model signals': '+'.join(model.signals),
      'model classes': ', '.join(model.stage_names),
      'model': f'{params:,} parameters, feature_dim {cfg.feature_dim}, '
               f'{"causal" if cfg.causal else "non-causal"}'
  }


class RunOutputs:
  """The files of one `predict_files` run: per night as it finishes, the report at the end."""

  def __init__(self, output_dir: str | os.PathLike[str], formats: Sequence[str] = FORMATS):
    self.output_dir = os.fspath(output_dir)
    self.formats = check_formats(formats)
    self.figures: dict[str, str] = {}  # Night -> inline SVG, only for the report.

  def write(self, prediction: NightPrediction) -> list[str]:
    """Writes one night's files (and keeps its figure for the report)."""
    if REPORT_FORMAT in self.formats:
      self.figures[prediction.name] = html_report.night_svg(prediction)
    return write_outputs(prediction, self.output_dir, self.formats)

  def write_report(self,
                   rows: Sequence[Mapping[str, Any]],
                   report,
                   model=None,
                   info: Mapping[str, str] | None = None) -> str | None:
    """Writes index.html when 'html' is a chosen format; returns its path."""
    if REPORT_FORMAT not in self.formats:
      return None
    lines = dict(info or {})
    names = ()
    if model is not None:
      lines.update(model_info(model))
      names = model.stage_names
    return html_report.write_report(self.output_dir, rows, report, self.figures, lines, names)
