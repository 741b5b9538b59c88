"""Epoch agreement between two folders of hypnograms (`<name>.preds.csv`, column `Pred`).

Both the reference's `predict_on_folder` and our `predict` write `<name>.preds.csv`
with one `Pred` row per 30-s epoch. The reference's file always covers its whole
grid (1200 rows for 10 h; rows past the night are predictions on padding), ours the
night's whole epochs, so nights are compared on the epochs both files have.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib

import numpy as np

from wav2sleep_jax.core import cli
from wav2sleep_jax.evaluation import metrics

SUFFIX = '.preds.csv'


@dataclasses.dataclass(frozen=True)
class NightAgreement:
  """One night: epochs compared, the fraction of equal stages, Cohen's kappa."""

  name: str
  epochs: int
  agreement: float
  kappa: float


def read_stages(path: str | os.PathLike[str]) -> np.ndarray:
  """The `Pred` column of a .preds.csv (InputError naming the file if unusable)."""
  try:
    with open(path, newline='') as f:
      rows = list(csv.DictReader(f))
    stages = np.array([int(float(r['Pred'])) for r in rows], np.int64)
  except (OSError, KeyError, ValueError, TypeError) as e:
    raise cli.InputError(f'{path}: not a hypnogram with a Pred column ({e})') from None
  if stages.size == 0 or stages.min() < 0:
    raise cli.InputError(f'{path}: no epochs, or negative stages.')
  return stages


def _hypnograms(folder: pathlib.Path) -> dict[str, pathlib.Path]:
  if not folder.is_dir():
    raise FileNotFoundError(f'{folder} is not a folder.')
  return {
      p.relative_to(folder).as_posix()[:-len(SUFFIX)]: p
      for p in sorted(folder.rglob(f'*{SUFFIX}'))
  }


def compare(reference_S: np.ndarray, ours_S: np.ndarray, name: str = '') -> NightAgreement:
  """Agreement on the epochs both have."""
  epochs = min(len(reference_S), len(ours_S))
  ref, ours = reference_S[:epochs], ours_S[:epochs]
  classes = int(max(ref.max(), ours.max())) + 1
  cm = metrics.host_confusion_matrix(ref, ours, classes)
  return NightAgreement(name, epochs, float(np.mean(ref == ours)), metrics.cohen_kappa(cm))


def compare_folders(reference_dir: str | os.PathLike[str],
                    ours_dir: str | os.PathLike[str]) -> tuple[list[NightAgreement], list[str]]:
  """(agreement per night found in both, names found in only one of them)."""
  reference = _hypnograms(pathlib.Path(reference_dir))
  ours = _hypnograms(pathlib.Path(ours_dir))
  if not reference.keys() & ours.keys():
    raise FileNotFoundError(f'No night has a {SUFFIX} in both {reference_dir} and {ours_dir}.')
  nights = [
      compare(read_stages(reference[n]), read_stages(ours[n]), n)
      for n in sorted(reference.keys() & ours.keys())
  ]
  return nights, sorted(reference.keys() ^ ours.keys())


def table(nights: list[NightAgreement]) -> str:
  """A text table, one line per night and one for all epochs."""
  lines = [f'{"night":<32} {"epochs":>7} {"agreement":>10} {"kappa":>7}']
  lines += [f'{n.name:<32} {n.epochs:>7} {n.agreement:>10.4f} {n.kappa:>7.4f}' for n in nights]
  total = sum(n.epochs for n in nights)
  overall = sum(n.agreement * n.epochs for n in nights) / max(total, 1)
  lines.append(f'{"all epochs":<32} {total:>7} {overall:>10.4f}')
  return '\n'.join(lines)
