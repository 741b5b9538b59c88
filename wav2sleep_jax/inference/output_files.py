"""Output files of a prediction run: per-night files and the summary table.

  <name>.preds.csv        one row per 30-s epoch (`NightPrediction.write_csv`)
  <name>.hypnogram.png    predicted (and scored) stages
  summary.csv             one row per staged night: sleep statistics, kappa
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any, Mapping, Sequence

from wav2sleep_jax.inference.night_prediction import NightPrediction

SUMMARY_FILE = 'summary.csv'
PREDS_SUFFIX = '.preds.csv'
PLOT_SUFFIX = '.hypnogram.png'


def write_outputs(prediction: NightPrediction, output_dir: str | os.PathLike[str],
                  plot: bool = True) -> list[str]:
  """Writes `<name>.preds.csv` (and `<name>.hypnogram.png`) under `output_dir`."""
  base = os.path.join(os.fspath(output_dir), prediction.name or 'night')
  paths = [prediction.write_csv(base + PREDS_SUFFIX)]
  if plot:
    paths.append(prediction.plot(base + PLOT_SUFFIX))
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
