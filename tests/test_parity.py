"""Converted reference checkpoints reproduce the reference PyTorch logits."""

from __future__ import annotations

import numpy as np
import pytest

import wav2sleep_jax
from wav2sleep_jax import convert
from tests.conftest import REFERENCE_FIXTURES, require_shared

FOLDERS = ('wav2sleep_cardiorespiratory', 'wav2sleep_eog')


@pytest.fixture(scope='module', params=FOLDERS)
def reference(request):
  pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  folder = require_shared('fixtures', 'reference', request.param)
  return folder


def test_logits_match_reference(reference):
  model = wav2sleep_jax.load_model(reference)
  inputs = dict(np.load(reference / 'inputs.npz'))
  expected = np.load(reference / 'expected_logits.npz')['logits']
  logits = model.logits(inputs)
  assert logits.shape == expected.shape
  np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_converted_checkpoint_roundtrip(reference, tmp_path):
  cfg, num_params = convert.convert_reference(reference, tmp_path / 'ckpt')
  import json
  meta = json.loads((reference / 'meta.json').read_text())
  assert num_params == meta['num_params']
  model = wav2sleep_jax.load_model(tmp_path / 'ckpt')
  assert model.config == cfg
  inputs = dict(np.load(reference / 'inputs.npz'))
  expected = np.load(reference / 'expected_logits.npz')['logits']
  np.testing.assert_allclose(model.logits(inputs), expected, atol=1e-4, rtol=0)


def test_absent_rows_follow_reference_masks(reference):
  """-inf rows in the fixture inputs are exactly the nights meta.json lists as missing."""
  import json
  meta = json.loads((reference / 'meta.json').read_text())
  model = wav2sleep_jax.load_model(reference)
  _, mask_BM, _ = model.prepare(dict(np.load(reference / 'inputs.npz')))
  for night, missing in enumerate(meta['missing']):
    absent = {s for s, p in zip(model.signals, mask_BM[night]) if not p}
    assert absent == set(missing)
