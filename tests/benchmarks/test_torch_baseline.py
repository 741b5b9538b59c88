"""The PyTorch baseline of `benchmark compare` is the reference architecture."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models.config import ModelConfig
from tests.conftest import REPO_ROOT, require_shared

torch = pytest.importorskip('torch', reason="the PyTorch baseline needs the 'torch' extra")
from wav2sleep_jax.benchmarks import torch_baseline  # pylint: disable=g-import-not-at-top


def _jax_param_count(cfg: ModelConfig) -> int:
  return sum(a.size for a in jax.tree.leaves(model_io.abstract_params(cfg)))


@pytest.mark.parametrize(
    'cfg', [
        ModelConfig(),
        ModelConfig(signals=('EOG-L', 'EOG-R'), num_classes=5),
        ModelConfig(
            signals=('ECG', 'THX'),
            feature_dim=64,
            mixer_heads=4,
            encoder_channels={'THX': (16, 32, 64, 64, 128, 128)}),
    ],
    ids=['default', 'eog', 'small'])
def test_parameter_count_matches_ours(cfg):
  count = torch_baseline.num_params(torch_baseline.Wav2SleepTorch(cfg))
  assert count == _jax_param_count(cfg)
  if cfg == ModelConfig():
    assert count == 2_948_740  # The reference's published default model.


def test_reproduces_reference_logits():
  folder = require_shared('fixtures', 'reference', 'wav2sleep_cardiorespiratory')
  cfg = ModelConfig()
  model = torch_baseline.Wav2SleepTorch(cfg).eval()
  torch_baseline.load_reference_state(model,
                                      torch.load(folder / 'state_dict.pth', map_location='cpu'))
  inputs = {k: torch.from_numpy(v) for k, v in np.load(folder / 'inputs.npz').items()}
  for name in cfg.signals:  # Signals left out of the fixture are absent everywhere.
    if name not in inputs:
      inputs[name] = torch.full((3, 40 * 1024), -np.inf)
  with torch.inference_mode():
    logits = model(inputs).numpy()
  expected = np.load(folder / 'expected_logits.npz')['logits']
  np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_refuses_other_architectures():
  with pytest.raises(ValueError, match='causal=True'):
    torch_baseline.Wav2SleepTorch(ModelConfig(causal=True))


@pytest.mark.slow
def test_cli_times_a_tiny_step(tmp_path):
  out = tmp_path / 'b.json'
  proc = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.benchmarks.torch_baseline', 'train', '--signals=THX',
      '--hours=0.05', '--repeats=2', '--warmup=1', f'--json={out}'
  ],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  result = json.loads(out.read_text())
  assert result['epochs'] == 6 and len(result['repeats_s']) == 2
  assert result['s_per_night'] == pytest.approx(result['median_s'] / 2)
