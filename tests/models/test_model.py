"""Model semantics: encoder paths, masking, permutation invariance, causality, shapes."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wav2sleep_jax.inference.model import StagingModel
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models.config import ModelConfig
from tests.model_testutil import random_params, random_signals, tiny_config

ALL = ('ECG', 'PPG', 'ABD', 'THX')


@functools.partial(jax.jit, static_argnums=0)
def _apply(graphdef, state, x, mask_BM, dropout_key):
  rngs = None if dropout_key is None else nnx.Rngs(dropout=dropout_key)
  return nnx.merge(graphdef, state)(x, mask_BM, rngs=rngs)


def _forward(cfg, params, x, mask_BM, dropout_key=None):
  graphdef, state = nnx.split(model_io.build_model(cfg, params))
  return np.asarray(
      _apply(graphdef, state, {
          k: jnp.asarray(v) for k, v in x.items()
      }, jnp.asarray(mask_BM), dropout_key))


@pytest.fixture(scope='module')
def tiny():
  cfg = tiny_config()
  return cfg, random_params(cfg)


@pytest.mark.slow
def test_vmap_and_loop_encoders_agree(tiny):
  cfg, params = tiny
  x = random_signals(ALL, batch=2, epochs=3)
  mask = np.array([[1, 1, 1, 1], [1, 0, 1, 0]], bool)
  loop = _forward(cfg.replace(encoder_impl='loop'), params, x, mask)
  vmap = _forward(cfg.replace(encoder_impl='vmap'), params, x, mask)
  np.testing.assert_allclose(vmap, loop, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_vmap_and_loop_gradients_agree(tiny):
  cfg, params = tiny
  x = {k: jnp.asarray(v) for k, v in random_signals(('ECG', 'PPG'), 1, 2).items()}
  mask = jnp.ones((1, 4), bool).at[:, 2:].set(False)

  def grads(impl):
    model = model_io.build_model(cfg.replace(encoder_impl=impl), params)
    graphdef, state = nnx.split(model)
    loss = lambda st: nnx.merge(graphdef, st)(x, mask).sum()
    return jax.jit(jax.grad(loss))(state)

  g_loop, g_vmap = grads('loop'), grads('vmap')
  for a, b in zip(jax.tree.leaves(g_loop), jax.tree.leaves(g_vmap)):
    # vmap turns the convolutions into grouped ones, which sum in another order;
    # these random-parameter gradients cancel a lot, so compare at the leaf's scale.
    scale = np.abs(np.asarray(a)).max()
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-4 * scale, rtol=1e-4)


@pytest.mark.slow
def test_masked_signal_equals_leaving_it_out(tiny):
  cfg, params = tiny
  x = random_signals(ALL, batch=2, epochs=3)
  mask = np.array([[1, 0, 1, 1], [1, 0, 1, 1]], bool)
  with_ppg = _forward(cfg, params, x, mask)
  x_garbage = dict(x, PPG=x['PPG'] * 100 + 7)
  with_garbage = _forward(cfg, params, x_garbage, mask)
  without = _forward(cfg, params, {k: v for k, v in x.items() if k != 'PPG'}, mask)
  np.testing.assert_allclose(with_ppg, without, atol=1e-5)
  np.testing.assert_allclose(with_garbage, without, atol=1e-5)
  # ...whereas a present PPG does change the output.
  present = _forward(cfg, params, x, np.ones_like(mask))
  assert np.abs(present - without).max() > 1e-3


def test_per_night_mask_only_affects_that_night(tiny):
  cfg, params = tiny
  x = random_signals(ALL, batch=2, epochs=2)
  full = _forward(cfg, params, x, np.ones((2, 4), bool))
  part = _forward(cfg, params, x, np.array([[1, 1, 1, 1], [0, 1, 1, 0]], bool))
  np.testing.assert_allclose(part[0], full[0], atol=1e-5)
  assert np.abs(part[1] - full[1]).max() > 1e-3


@pytest.mark.slow
def test_permutation_invariance_over_signal_order(tiny):
  cfg, params = tiny
  x = random_signals(ALL, batch=2, epochs=3)
  mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1]], bool)
  out = _forward(cfg, params, x, mask)
  order = (3, 0, 2, 1)
  permuted_cfg = cfg.replace(signals=tuple(ALL[i] for i in order))
  out_perm = _forward(permuted_cfg, params, x, mask[:, order])
  np.testing.assert_allclose(out_perm, out, atol=1e-5)


@pytest.mark.parametrize('causal', [True, False])
def test_causal_mode(causal):
  cfg = tiny_config(causal=causal)
  params = random_params(cfg, seed=1)
  epochs, t = 8, 4
  x = random_signals(ALL, batch=1, epochs=epochs, seed=2)
  x_future = {}
  for name, v in x.items():
    k = v.shape[1] // epochs
    v = v.copy()
    v[:, (t + 1) * k:] = np.random.default_rng(3).standard_normal(v[:, (t + 1) * k:].shape)
    x_future[name] = v
  mask = np.ones((1, 4), bool)
  a, b = _forward(cfg, params, x, mask), _forward(cfg, params, x_future, mask)
  past_change = np.abs(a[:, :t + 1] - b[:, :t + 1]).max()
  if causal:
    assert past_change < 1e-5, past_change
  else:  # The bidirectional model does look ahead.
    assert past_change > 1e-4
  assert np.abs(a[:, t + 1:] - b[:, t + 1:]).max() > 1e-4


@pytest.mark.parametrize('epochs', [1, 4])
def test_output_shapes_short_nights(tiny, epochs):
  cfg, params = tiny
  x = random_signals(ALL, batch=3, epochs=epochs)
  out = _forward(cfg, params, x, np.ones((3, 4), bool))
  assert out.shape == (3, epochs, cfg.num_classes)
  assert np.isfinite(out).all()


@pytest.mark.slow
def test_full_size_model_on_a_ten_hour_night():
  """Default (paper-size) model, one 1200-epoch night with all four signals."""
  cfg = ModelConfig()
  model = StagingModel(cfg, random_params(cfg, scale=0.05))
  x = random_signals(ALL, batch=1, epochs=1200)
  logits = model.logits(x)
  assert logits.shape == (1, 1200, 4)
  assert np.isfinite(logits).all()


@pytest.mark.slow
def test_maxpool_variant_and_paper_channel_schedule():
  sched = (4, 8, 8, 8, 8, 8)
  cfg = tiny_config(encoder_downsample='maxpool', encoder_channels={'ABD': sched})
  assert cfg.channel_schedule('ABD') == sched
  assert cfg.channel_schedule('THX') == (4, 4, 8, 8, 8, 8)
  out = _forward(cfg, random_params(cfg), random_signals(ALL, 2, 2), np.ones((2, 4), bool))
  assert out.shape == (2, 2, 4) and np.isfinite(out).all()


def test_parameter_counts_match_paper():
  count = lambda cfg: sum(
      int(np.prod(a.shape)) for a in jax.tree.leaves(model_io.abstract_params(cfg)))
  assert count(ModelConfig()) == 2_948_740
  paper = (16, 32, 64, 64, 128, 128)
  assert count(ModelConfig(encoder_channels={'ABD': paper, 'THX': paper})) == 3_578_500


@pytest.mark.slow
def test_dropout_only_with_rngs(tiny):
  cfg, params = tiny
  x = random_signals(ALL, 1, 3)
  mask = np.ones((1, 4), bool)
  eval_a, eval_b = _forward(cfg, params, x, mask), _forward(cfg, params, x, mask)
  np.testing.assert_array_equal(eval_a, eval_b)
  train = _forward(cfg, params, x, mask, dropout_key=jax.random.key(0))
  assert np.abs(train - eval_a).max() > 1e-4


@pytest.mark.slow
def test_bfloat16_compute_tracks_float32(tiny):
  cfg, params = tiny
  x = random_signals(ALL, 2, 4)
  mask = np.ones((2, 4), bool)
  f32 = _forward(cfg, params, x, mask)
  bf16 = _forward(cfg.replace(dtype='bfloat16'), params, x, mask)
  assert bf16.dtype == np.float32
  assert np.abs(bf16 - f32).max() < 0.1 * np.abs(f32).max()
  assert np.abs(bf16 - f32).max() > 0  # Really computed in lower precision.


@pytest.mark.parametrize('bad, message', [
    (dict(signals=()), 'at least one'),
    (dict(signals=('ECG', 'ECG')), 'Duplicate'),
    (dict(signals=('EEG',)), 'Unknown signal'),
    (dict(encoder_channels={'ABD': (16, 32)}), 'encoder blocks'),
    (dict(encoder_channels={'EOG-L': (16,) * 10}), 'unknown signals'),
    (dict(feature_dim=100, mixer_heads=8), 'divisible'),
])
def test_config_validation(bad, message):
  with pytest.raises(ValueError, match=message):
    ModelConfig(**bad)


@pytest.mark.parametrize(
    'mode, norm, strictly_causal',
    [
        ('streaming', 'instance', True),
        ('chunked', 'instance', True),
        ('conv', 'layer', True),
        ('conv', 'instance', False),  # The reference's whole-night statistics look ahead.
    ])
def test_causal_modes(mode, norm, strictly_causal):
  cfg = tiny_config(causal=True, causal_mode=mode, encoder_norm=norm)
  params = random_params(cfg, seed=1)
  epochs, t = 6, 2
  x = random_signals(('THX',), batch=1, epochs=epochs, seed=2)
  k = x['THX'].shape[1] // epochs
  x_future = {'THX': x['THX'].copy()}
  x_future['THX'][:, (t + 1) * k:] += 3.0
  mask = np.array([[0, 0, 0, 1]], bool)
  a, b = _forward(cfg, params, x, mask), _forward(cfg, params, x_future, mask)
  past_change = np.abs(a[:, :t + 1] - b[:, :t + 1]).max()
  assert (past_change < 1e-5) == strictly_causal, past_change


@pytest.mark.slow
def test_chunked_encoder_encodes_each_epoch_alone():
  """chunk_causal: a night's encoding is its epochs encoded one by one (no context)."""
  cfg = tiny_config(causal=True, causal_mode='chunked', signals=('ABD',))
  params = random_params(cfg, seed=3)
  encoder = model_io.build_model(cfg, params).encoders['ABD']
  x = random_signals(('ABD',), batch=1, epochs=3, seed=4)['ABD']
  night = np.asarray(encoder(jnp.asarray(x)))
  k = x.shape[1] // 3
  plain = model_io.build_model(cfg.replace(causal=False), params).encoders['ABD']
  for s in range(3):
    alone = np.asarray(plain(jnp.asarray(x[:, s * k:(s + 1) * k])))
    np.testing.assert_allclose(night[:, s], alone[:, 0], atol=1e-5)


@pytest.mark.slow
def test_post_norm_epoch_mixer_layer_matches_torch():
  torch = pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")
  from wav2sleep_jax.models.epoch_mixer import TransformerLayer

  torch.manual_seed(0)
  ref = torch.nn.TransformerEncoderLayer(
      8, 2, 16, dropout=0.0, activation=torch.nn.SiLU(), batch_first=True, norm_first=False).eval()
  cfg = tiny_config(
      feature_dim=8,
      mixer_heads=2,
      mixer_ff_dim=16,
      mixer_norm_first=False,
      mixer_activation='silu')
  layer = TransformerLayer(cfg, rngs=nnx.Rngs(0))
  p = {k: jnp.asarray(v.detach().numpy()) for k, v in ref.state_dict().items()}
  linears = ((layer.attn.qkv, 'self_attn.in_proj_'), (layer.attn.out, 'self_attn.out_proj.'),
             (layer.ff1, 'linear1.'), (layer.ff2, 'linear2.'))
  for ours, theirs in linears:
    ours.kernel.value = p[theirs + 'weight'].T
    ours.bias.value = p[theirs + 'bias']
  for ours, theirs in ((layer.norm1, 'norm1.'), (layer.norm2, 'norm2.')):
    ours.scale.value, ours.bias.value = p[theirs + 'weight'] + 0.5, p[theirs + 'bias'] + 0.1
    getattr(ref, theirs[:-1]).weight.data += 0.5
    getattr(ref, theirs[:-1]).bias.data += 0.1
  x = np.random.default_rng(5).standard_normal((2, 4, 8)).astype(np.float32)
  valid = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
  with torch.no_grad():
    want = ref(torch.tensor(x), src_key_padding_mask=torch.tensor(~valid)).numpy()
  got = np.asarray(layer(jnp.asarray(x), jnp.asarray(valid)))
  np.testing.assert_allclose(got[valid], want[valid], atol=2e-5)


@pytest.mark.parametrize('changes, message', [
    (dict(encoder_norm='Instance'), "encoder_norm='Instance' is not supported"),
    (dict(sequence_norm='auto'), "sequence_norm='auto'"),
    (dict(activation='swish'), "activation='swish'"),
    (dict(causal_mode='chunk'), "causal_mode='chunk'"),
    (dict(num_classes=1), 'at least 2'),
    (dict(feature_dim=16.0), 'positive integer'),
    (dict(mixer_layers=True), 'positive integer'),
    (dict(sequence_kernel_size=4), 'odd'),
    (dict(encoder_norm='group', encoder_initial_channels=12,
          encoder_max_channels=12), 'not divisible'),
])
def test_config_refuses_unsupported_values(changes, message):
  with pytest.raises(ValueError, match=message):
    tiny_config(**changes)
  if changes == dict(sequence_kernel_size=4):  # Fine for a causal sequence mixer.
    tiny_config(sequence_kernel_size=4, causal=True)
