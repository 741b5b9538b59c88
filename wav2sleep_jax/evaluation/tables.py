"""Evaluation reports: Table-6-shaped markdown, confusion-matrix PNGs, TensorBoard.

Everything here reads `results` = {dataset: {subset name: summary}}, where a
summary is `evaluation.SubsetResult.summary()` (also what metrics.json holds),
so a report can be rebuilt from a metrics file without the model or the data.
Tables are laid out like the paper's Table 6: rows = test-time signal subsets,
columns = datasets; '–' marks a subset no night of that dataset has.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
from typing import Any, Mapping, Sequence

import numpy as np

from wav2sleep_jax.core import run_dir as run_dir_lib

Results = Mapping[str, Mapping[str, Mapping[str, Any]]]

_COHORT_LABELS = {
    'shhs': 'SHHS',
    'mesa': 'MESA',
    'wsc': 'WSC',
    'chat': 'CHAT',
    'cfs': 'CFS',
    'ccshs': 'CCSHS',
    'mros': 'MROS',
    'census': 'Census'
}
MISSING = '–'


def dataset_label(name: str) -> str:
  """Column header of a dataset: 'shhs' -> 'SHHS', 'synthetic/demo_mesa' -> 'demo_mesa'."""
  base = name.rsplit('/', 1)[-1]
  return _COHORT_LABELS.get(base, base)


def subset_label(subset: str) -> str:
  """Row header of a subset name: 'ECG+THX' -> 'ECG + THX'."""
  return subset.replace('+', ' + ')


def file_stem(dataset: str, subset: str) -> str:
  """'<dataset>__<subset>' with only [A-Za-z0-9_+.-] ('synthetic/x', 'all available' -> '_')."""
  clean = lambda s: re.sub(r'[^A-Za-z0-9_+.-]', '_', s)
  return f'{clean(dataset)}__{clean(subset)}'


def _fmt(value, digits: int = 3) -> str:
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return MISSING
  return f'{value:.{digits}f}'


def _count(n: int, noun: str) -> str:
  return f'{n:,} {noun}' + ('' if n == 1 else 's')


def _evaluated(summary: Mapping[str, Any] | None) -> bool:
  return summary is not None and bool(summary.get('nights'))


def _subset_rows(results: Results, subsets: Sequence[str] | None) -> list[str]:
  if subsets is not None:
    return list(subsets)
  rows = []
  for per_subset in results.values():
    rows += [s for s in per_subset if s not in rows]
  return rows


def _grid(results: Results,
          subsets: Sequence[str] | None,
          cell,
          corner: str = 'test inputs') -> str:
  datasets = list(results)
  lines = [
      f'| {corner} | ' + ' | '.join(dataset_label(d) for d in datasets) + ' |',
      '|---|' + '---|' * len(datasets)
  ]
  for subset in _subset_rows(results, subsets):
    cells = [
        cell(results[d].get(subset)) if _evaluated(results[d].get(subset)) else MISSING
        for d in datasets
    ]
    lines.append(f'| {subset_label(subset)} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def kappa_table(results: Results, subsets: Sequence[str] | None = None) -> str:
  """Total Cohen's kappa with the nights it covers: '0.786 (n=1000)'."""
  return _grid(results, subsets, lambda s: f"{_fmt(s['kappa'])} (n={s['nights']})")


def accuracy_table(results: Results, subsets: Sequence[str] | None = None) -> str:
  return _grid(results, subsets, lambda s: _fmt(s['accuracy']))


def night_kappa_table(results: Results, subsets: Sequence[str] | None = None) -> str:
  """Per-night kappa: median [25th, 75th percentile]."""

  def cell(s):
    lo, hi = s['night_kappa_iqr']
    return f"{_fmt(s['night_kappa_median'])} [{_fmt(lo)}, {_fmt(hi)}]"

  return _grid(results, subsets, cell)


def per_class_table(per_subset: Mapping[str, Mapping[str, Any]],
                    stage_names: Sequence[str],
                    subsets: Sequence[str] | None = None) -> str:
  """One dataset: rows = subsets, columns = stages, cells 'precision / recall / F1'."""
  lines = ['| test inputs | ' + ' | '.join(stage_names) + ' |', '|---|' + '---|' * len(stage_names)]
  for subset in (list(per_subset) if subsets is None else subsets):
    s = per_subset.get(subset)
    if not _evaluated(s):
      continue
    cells = [
        ' / '.join(_fmt(s[k][i], 2)
                   for k in ('precision', 'recall', 'f1'))
        for i in range(len(stage_names))
    ]
    lines.append(f'| {subset_label(subset)} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def scored_epochs_line(coverage: Mapping[str, Mapping[str, Any]]) -> str:
  """The scored epochs the numbers cover, and those cut off (per dataset when any)."""
  total = sum(c['scored_epochs'] for c in coverage.values())
  cut = sum(c['cropped_scored_epochs'] for c in coverage.values())
  limit = max((c['max_epochs'] for c in coverage.values()), default=0)
  if not cut:
    how = f'max_epochs={limit}' if limit else 'whole nights'
    return f'Scored epochs: {total:,} ({how}), none cut off.'
  per_dataset = '; '.join(f"{dataset_label(d)}: {c['cropped_scored_epochs']:,} of "
                          f"{_count(c['cropped_nights'], 'night')}"
                          for d, c in coverage.items()
                          if c['cropped_scored_epochs'])
  return (f'Scored epochs: {total - cut:,} of {total:,}; {cut:,} ({100 * cut / total:.1f}%) '
          f'cut off by max_epochs={limit} and not scored ({per_dataset}).')


def summary_tables(results: Results,
                   subsets: Sequence[str] | None = None,
                   split: str = 'test',
                   coverage: Mapping[str, Mapping[str, Any]] | None = None) -> str:
  """Total kappa and accuracy tables, and the scored epochs cut off (what training and
  `evaluate` print)."""
  text = (f"Total Cohen's kappa on the {split} split (n = nights that have the inputs):\n"
          f'{kappa_table(results, subsets)}\n\nAccuracy:\n{accuracy_table(results, subsets)}')
  return f'{text}\n\n{scored_epochs_line(coverage)}' if coverage else text


def markdown_report(results: Results,
                    subsets: Sequence[str] | None,
                    stage_names: Sequence[str],
                    split: str = 'test',
                    coverage: Mapping[str, Mapping[str, Any]] | None = None,
                    header: str = '') -> str:
  """The whole report: kappa, accuracy, per-night kappa, per-class scores, coverage."""
  parts = [f'# Evaluation on the {split} split', '']
  if header:
    parts += [header, '']
  parts += [
      "## Total Cohen's kappa", '',
      'One confusion matrix pooled over all scored epochs of a dataset (the paper\'s Table 6 '
      'metric). A subset is evaluated only on the nights that have all of its signals; '
      'n = those nights. "all available" uses every signal a night has.', '',
      kappa_table(results, subsets), '', '## Accuracy', '',
      accuracy_table(results, subsets), '', '## Per-night kappa: median [IQR]', '',
      night_kappa_table(results, subsets), '', '## Per-class precision / recall / F1', ''
  ]
  for dataset, per_subset in results.items():
    parts += [
        f'### {dataset_label(dataset)}', '',
        per_class_table(per_subset, stage_names, subsets), ''
    ]
  if coverage:
    parts += ['## Nights', '']
    for dataset, c in coverage.items():
      lengths = ', '.join(
          f"{_count(n, 'night')} at {k} epochs" for k, n in c['eval_lengths'].items()) or 'none'
      how = ('on the stored reference grid (unpadded)'
             if c.get('padding') == 'reference grid' else 'zero-padded (exact padding)')
      line = (f"- {dataset_label(dataset)} (`{dataset}`): {_count(c['nights'], 'night')}, "
              f"{c['scored_epochs']:,} scored epochs, longest night "
              f"{c['longest_night_epochs']:,} epochs; evaluated {how}: {lengths}; ")
      if c['cropped_scored_epochs']:
        line += (f"**{c['cropped_scored_epochs']:,} scored epochs of "
                 f"{_count(c['cropped_nights'], 'night')} cut off** by max_epochs="
                 f"{c['max_epochs']} (not scored).")
      else:
        line += 'no scored epoch cut off.'
      parts.append(line)
    parts.append('')
  return '\n'.join(parts)


# ----------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------


def confusion_figure(cm: np.ndarray, stage_names: Sequence[str], title: str, ax=None):
  """Confusion matrix coloured by row fraction (rows = scored stage), with % and counts.

  Draws into `ax` when given, else into a new `Figure` (no pyplot: no global backend
  state); returns the `Figure`.
  """
  cm = np.asarray(cm, np.int64)
  with np.errstate(invalid='ignore', divide='ignore'):
    frac = np.nan_to_num(cm / cm.sum(1, keepdims=True))
  k = len(stage_names)
  if ax is None:
    from matplotlib.figure import Figure

    width, height = k + 1.3, k + 1.5  # Inches: the square matrix plus fixed margins.
    fig = Figure(figsize=(width, height), dpi=110)
    fig.subplots_adjust(
        left=1.05 / width, right=1 - 0.2 / width, bottom=0.8 / height, top=1 - 0.65 / height)
    ax = fig.subplots()
  ax.imshow(frac, vmin=0.0, vmax=1.0, cmap='Blues')
  for i in range(k):
    for j in range(k):
      ax.text(
          j,
          i,
          f'{100 * frac[i, j]:.0f}%\n({cm[i, j]:,})',
          ha='center',
          va='center',
          fontsize=8,
          color='white' if frac[i, j] > 0.6 else 'black')
  ax.set_xticks(range(k), stage_names)
  ax.set_yticks(range(k), stage_names)
  ax.set_xlabel('Predicted stage')
  ax.set_ylabel('Scored stage')
  ax.set_title(title, fontsize=9)
  return ax.figure


def confusion_images(results: Results,
                     stage_names: Sequence[str]) -> dict[tuple[str, str], np.ndarray]:
  """(dataset, subset) -> RGB uint8 [H, W, 3] of its confusion figure (evaluated pairs)."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg

  images = {}
  for dataset, per_subset in results.items():
    for subset, s in per_subset.items():
      if not _evaluated(s):
        continue
      title = (f"{dataset_label(dataset)}, {subset_label(subset)}\nkappa {_fmt(s['kappa'])}, "
               f"accuracy {_fmt(s['accuracy'])}, {_count(s['nights'], 'night')}")
      canvas = FigureCanvasAgg(confusion_figure(s['confusion_matrix'], stage_names, title))
      canvas.draw()
      images[(dataset, subset)] = np.asarray(canvas.buffer_rgba())[..., :3].copy()
  return images


def write_confusion_pngs(directory: str | pathlib.Path,
                         images: Mapping[tuple[str, str], np.ndarray]) -> list[pathlib.Path]:
  """DIR/<dataset>__<subset>.png for every image of `confusion_images`."""
  from matplotlib import image as mpl_image

  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  for old in directory.glob('*.png'):  # Our own files from an earlier evaluation.
    old.unlink()
  paths = []
  for (dataset, subset), rgb in images.items():
    paths.append(directory / f'{file_stem(dataset, subset)}.png')
    mpl_image.imsave(paths[-1], rgb)
  return paths


def tag(name: str) -> str:
  """TensorBoard-safe tag part: 'ECG+THX' -> 'ECG_THX', 'all available' -> 'all_available'."""
  return re.sub(r'[^A-Za-z0-9_./-]', '_', name)


def write_tensorboard(logdir: str | pathlib.Path,
                      results: Results,
                      stage_names: Sequence[str],
                      split: str = 'test',
                      step: int = 0,
                      text: str = '',
                      images: Mapping[tuple[str, str], np.ndarray] | None = None) -> None:
  """Scalars <split>/<dataset>/<subset>/{kappa, accuracy, ...}, the report, the matrices."""
  from tensorboardX import SummaryWriter

  with SummaryWriter(str(logdir)) as tb:
    for dataset, per_subset in results.items():
      for subset, s in per_subset.items():
        if not _evaluated(s):
          continue
        prefix = f'{split}/{tag(dataset)}/{tag(subset)}'
        values = {
            'kappa': s['kappa'],
            'accuracy': s['accuracy'],
            'nights': s['nights'],
            'night_kappa_median': s['night_kappa_median']
        }
        values.update({f'f1/{name}': f for name, f in zip(stage_names, s['f1'])})
        for key, value in values.items():
          if value is not None and np.isfinite(value):
            tb.add_scalar(f'{prefix}/{key}', float(value), step)
        if images and (dataset, subset) in images:
          tb.add_image(f'{prefix}/confusion', images[(dataset, subset)], step, dataformats='HWC')
    if text:
      tb.add_text(f'{split}/report', text, step)


# ----------------------------------------------------------------------------
# Everything of one evaluation
# ----------------------------------------------------------------------------


def strict_json(value):
  """NaN/inf -> None and numpy scalars -> Python, so the file is standard JSON."""
  if isinstance(value, Mapping):
    return {str(k): strict_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [strict_json(v) for v in value]
  if isinstance(value, np.ndarray):
    return strict_json(value.tolist())
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def evaluation_markdown(metrics: Mapping[str, Any]) -> str:
  """table.md of an evaluation (the dict `evaluator.evaluate_workdir` returns)."""
  header = (f"Model at step {metrics['step']}: {metrics['num_classes']} classes "
            f"({', '.join(metrics['stage_names'])}), inputs {', '.join(metrics['signals'])}.")
  if metrics.get('missing_datasets'):
    header += (' Not prepared, so not evaluated: '
               f"{', '.join(metrics['missing_datasets'])}.")
  return markdown_report(metrics['results'], metrics['subsets'], metrics['stage_names'],
                         metrics['split'], metrics.get('datasets'), header)


def write_report(directory: str | pathlib.Path, metrics: Mapping[str, Any]) -> str:
  """DIR/metrics.json, DIR/table.md, DIR/confusion/*.png and DIR/tensorboard/."""
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  metrics = strict_json(metrics)
  (directory / run_dir_lib.METRICS_FILE).write_text(json.dumps(metrics, indent=2) + '\n')
  text = evaluation_markdown(metrics)
  (directory / 'table.md').write_text(text)
  images = confusion_images(metrics['results'], metrics['stage_names'])
  write_confusion_pngs(directory / 'confusion', images)
  write_tensorboard(directory / run_dir_lib.TENSORBOARD_DIR, metrics['results'],
                    metrics['stage_names'], metrics['split'], metrics['step'], text, images)
  return text
