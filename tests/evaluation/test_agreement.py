"""Epoch agreement between two folders of .preds.csv hypnograms."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wav2sleep_jax.core import cli
from wav2sleep_jax.evaluation import hypnogram_agreement as agreement
from tests.conftest import REPO_ROOT


def _write(path, stages):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text('Timestamp,Pred\n' +
                  ''.join(f'{30 * (i + 1)},{s}\n' for i, s in enumerate(stages)))


def test_nights_are_compared_on_the_epochs_both_have(tmp_path):
  _write(tmp_path / 'ref' / 'a.preds.csv', [0, 1, 1, 2, 3, 3, 0, 0])  # Grid: padding rows.
  _write(tmp_path / 'ours' / 'a.preds.csv', [0, 1, 2, 2, 3, 3])
  _write(tmp_path / 'ref' / 'sub' / 'b.preds.csv', [1, 1])
  _write(tmp_path / 'ours' / 'sub' / 'b.preds.csv', [1, 1])
  _write(tmp_path / 'ours' / 'c.preds.csv', [1])
  nights, unmatched = agreement.compare_folders(tmp_path / 'ref', tmp_path / 'ours')
  assert [(n.name, n.epochs) for n in nights] == [('a', 6), ('sub/b', 2)]
  assert nights[0].agreement == pytest.approx(5 / 6) and nights[1].agreement == 1.0
  assert 0 < nights[0].kappa < 1
  assert unmatched == ['c']
  assert 'all epochs' in agreement.table(nights)


def test_unusable_inputs_are_one_line_errors(tmp_path):
  (tmp_path / 'ref').mkdir()
  (tmp_path / 'ref' / 'a.preds.csv').write_text('Timestamp,Stage\n30,1\n')
  _write(tmp_path / 'ours' / 'a.preds.csv', [1])
  with pytest.raises(cli.InputError, match='a.preds.csv: not a hypnogram'):
    agreement.compare_folders(tmp_path / 'ref', tmp_path / 'ours')
  result = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.agreement', f'--reference={tmp_path / "ref"}',
      f'--ours={tmp_path / "nowhere"}'
  ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True)
  assert result.returncode == cli.EXIT_USAGE
  assert result.stderr.strip().splitlines() == [f'error: {tmp_path / "nowhere"} is not a folder.']
