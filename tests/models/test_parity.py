"""Converted reference checkpoints reproduce the reference PyTorch logits.

Every folder under ../shared/fixtures/reference and reference_knobs is tested, so
new fixture folders of the same format are picked up without code changes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import wav2sleep_jax
from wav2sleep_jax.models import reference as reference_lib
from tests.conftest import SHARED, require_shared

GROUPS = ('reference', 'reference_knobs')


def _folders() -> list[str]:
  found = [
      f'{g}/{p.name}' for g in GROUPS if (SHARED / 'fixtures' / g).is_dir()
      for p in sorted((SHARED / 'fixtures' / g).iterdir())
      if reference_lib.is_reference_checkpoint(p)
  ]
  return found or ['reference/(no fixtures found)']


def _params() -> list:
  """Every fixture folder; the knob folders are `slow` (CI runs them, the fast loop not)."""
  return [
      pytest.param(f, id=f, marks=pytest.mark.slow if f.startswith('reference_knobs/') else ())
      for f in _folders()
  ]


@pytest.fixture(scope='module', params=_params())
def reference(request):
  pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  return require_shared('fixtures', *request.param.split('/'))


@pytest.fixture(scope='module')
def model(reference):
  return wav2sleep_jax.load_model(reference)


def test_logits_match_reference(reference, model):
  inputs = dict(np.load(reference / 'inputs.npz'))
  expected = np.load(reference / 'expected_logits.npz')['logits']
  logits = model.logits(inputs)
  assert logits.shape == expected.shape
  np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_absent_rows_follow_reference_masks(reference, model):
  """-inf rows in the fixture inputs are exactly the nights meta.json lists as missing."""
  meta = json.loads((reference / 'meta.json').read_text())
  _, mask_BM, _ = model.prepare(dict(np.load(reference / 'inputs.npz')))
  for night, missing in enumerate(meta['missing']):
    absent = {s for s, p in zip(model.signals, mask_BM[night]) if not p}
    assert absent == set(missing)


@pytest.mark.slow
def test_converted_checkpoint_roundtrip(reference, tmp_path):
  if reference.parent.name != 'reference':
    pytest.skip('the save/load round trip runs on the base fixtures only (time)')
  cfg, num_params = reference_lib.convert_reference(reference, tmp_path / 'ckpt')
  meta = json.loads((reference / 'meta.json').read_text())
  assert num_params == meta['num_params']
  model = wav2sleep_jax.load_model(tmp_path / 'ckpt')
  assert model.config == cfg
  inputs = dict(np.load(reference / 'inputs.npz'))
  expected = np.load(reference / 'expected_logits.npz')['logits']
  np.testing.assert_allclose(model.logits(inputs), expected, atol=1e-4, rtol=0)


def test_parameter_count_matches_reference(reference, model):
  meta = json.loads((reference / 'meta.json').read_text())
  count = sum(int(np.size(v)) for v in reference_lib._flatten(dict(model.params)).values())
  assert count == meta['num_params']
