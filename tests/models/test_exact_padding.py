"""Exact padding: a zero-padded night with `valid_epochs_B` gives the unpadded night's logits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import io as model_io
from tests.model_testutil import random_params, random_signals, tiny_config

SIGNALS = ('ECG', 'THX')
LENGTHS = (5, 2, 7)  # Epochs of each night; padded to PADDED.
PADDED = 8


def _logits(cfg, params, x, mask_BM, valid_B=None):
  """Forward pass jitted afresh (so the fast-path switch of the moment applies)."""
  graphdef, state = nnx.split(model_io.build_model(cfg, params))
  run = lambda st, x, m, v: nnx.merge(graphdef, st)(x, m, valid_epochs_B=v)
  out = jax.jit(cpu_fast_paths.per_platform(run))(state, {
      k: jnp.asarray(v) for k, v in x.items()
  }, jnp.asarray(mask_BM), None if valid_B is None else jnp.asarray(valid_B, jnp.int32))
  return np.asarray(out)


def _softmax(logits_SK):
  e = np.exp(logits_SK - logits_SK.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _nights(seed=0):
  """Unpadded nights (one random signal absent in the second) and the padded batch."""
  rng = np.random.default_rng(seed)
  nights = [random_signals(SIGNALS, 1, n, seed=seed + i) for i, n in enumerate(LENGTHS)]
  masks = np.ones((len(LENGTHS), 4), bool)
  masks[:, [1, 2]] = False  # PPG and ABD absent everywhere.
  masks[1, 3] = False  # THX absent in night 1.
  padded = {}
  for name in SIGNALS:
    k = nights[0][name].shape[1] // LENGTHS[0]
    rows = [np.pad(n[name][0], (0, (PADDED - s) * k)) for n, s in zip(nights, LENGTHS)]
    padded[name] = np.stack(rows)
    # Garbage beyond the valid epochs must not matter either.
    padded[name][0, LENGTHS[0] * k:] = rng.standard_normal((PADDED - LENGTHS[0]) * k)
  return nights, masks, padded


def _check_exact(cfg, seed=0):
  params = random_params(cfg, seed=seed)
  nights, masks, padded = _nights(seed)
  batch = _logits(cfg, params, padded, masks, np.array(LENGTHS))
  for i, (night, s) in enumerate(zip(nights, LENGTHS)):
    alone = _logits(cfg, params, night, masks[i:i + 1])[0]
    # Float32 sums over different lengths round differently: logits agree to
    # ~1e-5 relative, probabilities to 1e-5 (the target).
    np.testing.assert_allclose(
        batch[i, :s], alone, atol=5e-5, rtol=1e-5, err_msg=f'night {i} ({s} epochs)')
    np.testing.assert_allclose(
        _softmax(batch[i, :s]), _softmax(alone), atol=1e-5, err_msg=f'night {i} ({s} epochs)')
  # Without lengths the padding changes the logits (or the test shows nothing).
  plain = _logits(cfg, params, padded, masks)
  assert np.abs(plain[2, :LENGTHS[2]] - _logits(cfg, params, nights[2], masks[2:])[0]).max() > 1e-3


_MODES = dict(
    noncausal=dict(),
    conv=dict(causal=True, causal_mode='conv'),
    chunked=dict(causal=True, causal_mode='chunked', sequence_norm='instance'),
    streaming=dict(
        causal=True, causal_mode='streaming', encoder_norm='group', sequence_norm='group'))
# Each mode once in the fast loop (fast paths on for two, off for two); all in CI.
_FAST = {('noncausal', '1'), ('conv', '0'), ('chunked', '1'), ('streaming', '0')}


@pytest.mark.parametrize('mode, fast_paths', [
    pytest.param(m, f, id=f'{m}-fast_paths={f}', marks=() if (m, f) in _FAST else pytest.mark.slow)
    for m in _MODES
    for f in ('1', '0')
])
def test_padded_night_equals_unpadded(mode, fast_paths, monkeypatch):
  monkeypatch.setenv(cpu_fast_paths.SWITCH, fast_paths)
  _check_exact(tiny_config(**_MODES[mode]))


@pytest.mark.slow
@pytest.mark.parametrize('changes', [
    dict(encoder_norm='group', sequence_norm='instance', encoder_downsample='maxpool'),
    dict(encoder_norm='auto', encoder_impl='vmap', remat=True),
])
def test_padded_night_equals_unpadded_other_norms(changes):
  _check_exact(tiny_config(**changes), seed=3)


@pytest.mark.slow
@pytest.mark.parametrize('fast_paths', ['1', '0'])
def test_padded_gradients_equal_unpadded(fast_paths, monkeypatch):
  """Training with exact padding: a padded night's loss gradient is the unpadded one's."""
  monkeypatch.setenv(cpu_fast_paths.SWITCH, fast_paths)
  cfg = tiny_config()
  graphdef, state = nnx.split(model_io.build_model(cfg, random_params(cfg, seed=5)))
  nights, masks, padded = _nights(5)
  s = LENGTHS[2]

  def loss(st, x, valid_B, rows):
    logits = nnx.merge(graphdef, st)(x, jnp.asarray(masks[rows]), valid_epochs_B=valid_B)
    return logits[-1, :s].sum()

  grad = jax.jit(
      jax.grad(cpu_fast_paths.per_platform(lambda st, x, v: loss(st, x, v, slice(None)))))
  grad_alone = jax.jit(
      jax.grad(cpu_fast_paths.per_platform(lambda st, x: loss(st, x, None, slice(2, 3)))))
  g = grad(state, {k: jnp.asarray(v) for k, v in padded.items()}, jnp.asarray(LENGTHS))
  g_alone = grad_alone(state, {k: jnp.asarray(v) for k, v in nights[2].items()})
  for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_alone)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-4, rtol=1e-4)


def test_full_lengths_change_nothing():
  """Lengths equal to the padded length: the same logits as without lengths."""
  cfg = tiny_config()
  params = random_params(cfg, seed=7)
  _, masks, padded = _nights(7)
  plain = _logits(cfg, params, padded, masks)
  full = _logits(cfg, params, padded, masks, np.full(len(LENGTHS), PADDED))
  np.testing.assert_allclose(full, plain, atol=1e-5, rtol=1e-5)
