"""Encoder building blocks: fused instance norm and erf GELU against plain formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wav2sleep_jax.models import layers


def _two_pass_instance_norm(x, eps, chunk=None):
  """Textbook instance norm (mean, then centred variance), differentiated by JAX."""
  shape = x.shape
  if chunk is not None:
    x = x.reshape(shape[0], shape[1] // chunk, chunk, shape[2])
  mean = x.mean(axis=-2, keepdims=True)
  var = jnp.square(x - mean).mean(axis=-2, keepdims=True)
  return ((x - mean) / jnp.sqrt(var + eps)).reshape(shape)


@pytest.mark.parametrize('chunk', [None, 32])
@pytest.mark.parametrize('offset, scale', [(0.0, 1.0), (5.0, 0.3), (-40.0, 3.0)])
def test_instance_norm_matches_two_pass_formula_and_its_gradient(chunk, offset, scale):
  x = offset + scale * jax.random.normal(jax.random.key(0), (2, 256, 5))
  g = jax.random.normal(jax.random.key(1), x.shape)
  y, vjp = jax.vjp(lambda a: layers.instance_norm(a, 1e-2, chunk), x)
  y_ref, vjp_ref = jax.vjp(lambda a: _two_pass_instance_norm(a, 1e-2, chunk), x)
  np.testing.assert_allclose(y, y_ref, atol=2e-5)
  np.testing.assert_allclose(vjp(g)[0], vjp_ref(g)[0], atol=5e-5)
  # Each normalised window has zero mean and (almost) unit variance.
  windows = y.reshape(2, -1, chunk or 256, 5)
  np.testing.assert_allclose(windows.mean(axis=2), 0, atol=1e-5)


def test_instance_norm_of_a_constant_channel_is_zero_not_nan():
  x = jnp.full((1, 64, 3), 123.25)
  y, vjp = jax.vjp(lambda a: layers.instance_norm(a, 1e-2), x)
  assert np.all(np.isfinite(y)) and np.abs(y).max() < 1e-2
  assert np.all(np.isfinite(vjp(jnp.ones_like(x))[0]))


def test_instance_norm_keeps_bfloat16_dtype():
  x = jax.random.normal(jax.random.key(2), (1, 128, 4)).astype(jnp.bfloat16)
  y = layers.instance_norm(x, 1e-2)
  assert y.dtype == jnp.bfloat16
  np.testing.assert_allclose(
      np.asarray(y, np.float32), _two_pass_instance_norm(x.astype(jnp.float32), 1e-2), atol=3e-2)


def test_gelu_is_the_exact_erf_form_with_its_derivative():
  x = jnp.linspace(-9.0, 9.0, 2001)
  np.testing.assert_allclose(
      layers.gelu_exact(x), jax.nn.gelu(x, approximate=False), atol=1e-6, rtol=1e-6)
  np.testing.assert_allclose(
      jax.vmap(jax.grad(layers.gelu_exact))(x),
      jax.vmap(jax.grad(lambda a: jax.nn.gelu(a, approximate=False)))(x),
      atol=1e-6)
  assert layers.activation_fn('gelu') is layers.gelu_exact


def test_remat_keeps_the_norm_statistics(capsys):
  """Under the encoder's remat policy the statistics are saved, not recomputed."""
  policy = jax.checkpoint_policies.save_only_these_names(layers.NORM_STATS)
  f = jax.checkpoint(
      lambda a: jnp.sum(layers.gelu_exact(layers.instance_norm(a, 1e-2))), policy=policy)
  jax.ad_checkpoint.print_saved_residuals(f, jax.random.normal(jax.random.key(3), (1, 64, 2)))
  saved = capsys.readouterr().out.strip().splitlines()
  assert len(saved) == 3, saved
  assert saved[0].startswith('f32[1,64,2] from the argument'), saved
  assert all(line.startswith(f"f32[1,1,2] named '{layers.NORM_STATS}'") for line in saved[1:])


@pytest.mark.parametrize(
    'kernel_size, stride, padding',
    [
        (3, 2, (0, 1)),  # Encoder conv3, symmetric model.
        (3, 2, (1, 0)),  # Causal model (streaming).
        (3, 2, (2, 0)),  # Causal model ('conv' mode).
        (1, 2, (0, 0)),  # 1x1 shortcut.
        (3, 1, (1, 1)),  # Stride 1.
        (3, 1, (2, 0)),  # Stride 1, causal.
        (5, 4, (2, 1)),
    ])
@pytest.mark.parametrize('in_channels, out_channels', [(3, 4), (4, 2), (1, 5)])
def test_conv_matches_xla_values_and_gradients(kernel_size, stride, padding, in_channels,
                                               out_channels):
  # The channel counts pick either side for the shifted copy (input taps or output grads).
  x = jax.random.normal(jax.random.key(4), (2, 64, in_channels))
  kernel = jax.random.normal(jax.random.key(5), (kernel_size, in_channels, out_channels))
  args = ((stride,), (padding,))
  dn = jax.lax.conv_dimension_numbers(x.shape, kernel.shape, ('NWC', 'WIO', 'NWC'))
  plain = lambda a, k: jax.lax.conv_general_dilated(a, k, *args, dimension_numbers=dn)
  ours = lambda a, k: layers.conv_general_dilated(a, k, *args, dimension_numbers=dn)
  y, vjp = jax.vjp(ours, x, kernel)
  y_ref, vjp_ref = jax.vjp(plain, x, kernel)
  assert y.shape == (2, 64 // stride, out_channels)
  np.testing.assert_allclose(y, y_ref, atol=1e-5)
  g = jax.random.normal(jax.random.key(6), y.shape)
  for got, want in zip(vjp(g), vjp_ref(g)):
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)


def test_conv1d_weight_grad_is_the_correlation_of_inputs_and_output_grads():
  x = np.random.default_rng(0).normal(size=(1, 8, 1)).astype(np.float32)
  g = np.random.default_rng(1).normal(size=(1, 4, 1)).astype(np.float32)
  grad = layers.conv1d_weight_grad(jnp.asarray(x), jnp.asarray(g), 3, 2, (0, 1))
  x_pad = np.concatenate([x[0, :, 0], [0.0]])
  want = [sum(x_pad[2 * t + k] * g[0, t, 0] for t in range(4)) for k in range(3)]
  np.testing.assert_allclose(grad[:, 0, 0], want, rtol=1e-5)


def test_conv1d_input_grad_sends_each_output_grad_back_through_its_taps():
  g = np.random.default_rng(2).normal(size=(1, 4, 2)).astype(np.float32)
  kernel = np.random.default_rng(3).normal(size=(3, 1, 2)).astype(np.float32)
  grad = layers.conv1d_input_grad(jnp.asarray(g), jnp.asarray(kernel), 2, (1, 1), 8)
  want = np.zeros(8, np.float32)
  for t in range(4):  # y[t] = sum_k x[2t + k - 1] w[k]
    for k in range(3):
      if 0 <= 2 * t + k - 1 < 8:
        want[2 * t + k - 1] += kernel[k, 0] @ g[0, t]
  np.testing.assert_allclose(grad[0, :, 0], want, rtol=1e-5, atol=1e-6)


def _torch():
  return pytest.importorskip('torch', reason="torch missing: pip install -e '.[torch]'")


@pytest.mark.parametrize('kind', ['layer', 'rms', 'group', 'batch', 'instance'])
def test_norms_match_the_reference_torch_modules(kind):
  """Each encoder/sequence norm equals the torch module the reference builds (eval)."""
  torch = _torch()
  from wav2sleep_jax.models import reference as reference_lib

  rng = np.random.default_rng(7)
  c, eps = 16, 1e-5
  x_BCL = rng.normal(2.0, 3.0, (2, c, 10)).astype(np.float32)
  sd = {
      n: rng.uniform(0.5, 1.5, c).astype(np.float32)
      for n in ('weight', 'bias', 'running_mean', 'running_var')
  }
  w, b = (torch.tensor(sd[n])[None, :, None] for n in ('weight', 'bias'))
  x = torch.tensor(x_BCL)
  mu = x.mean(1, keepdim=True)
  want = {  # ConvLayerNorm / ConvRMSNorm of the reference, written out.
      'layer': lambda: (x - mu) / torch.sqrt((x - mu).pow(2).mean(1, keepdim=True) + eps) * w + b,
      'rms': lambda: x / torch.sqrt(x.pow(2).mean(1, keepdim=True) + eps) * w,
      'group': lambda: torch.nn.functional.group_norm(x, 8, w[0, :, 0], b[0, :, 0], eps),
      'batch': lambda: torch.nn.functional.batch_norm(
          x, torch.tensor(sd['running_mean']), torch.tensor(sd['running_var']),
          w[0, :, 0], b[0, :, 0], training=False, eps=eps),
      'instance': lambda: torch.nn.functional.instance_norm(x, eps=eps),
  }[kind]().numpy().transpose(0, 2, 1)
  x_BLC = jnp.asarray(x_BCL.transpose(0, 2, 1))
  if kind == 'instance':
    got = layers.instance_norm(x_BLC, eps)
  else:
    norm = layers.ChannelNorm(kind, c, eps, groups=8)
    # Reference tensors of a norm module 'n' (group norms nest theirs in '.norm').
    prefix_sd = {f'n.{k}': v for k, v in sd.items()}
    prefix_sd.update({'n.norm.weight': sd['weight'], 'n.norm.bias': sd['bias']})
    for leaf in ('scale', 'bias'):
      if getattr(norm, leaf) is not None:
        src = reference_lib._norm('n', kind, leaf, eps)
        getattr(norm,
                leaf).value = jnp.asarray(src.fn(*(prefix_sd[k] for k in src.keys)), jnp.float32)
    got = norm(x_BLC)
  np.testing.assert_allclose(np.asarray(got), want, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize('name', ['gelu', 'relu', 'leaky', 'silu', 'linear'])
def test_activations_match_torch(name):
  torch = _torch()
  x = np.linspace(-6, 6, 101).astype(np.float32)
  module = {
      'gelu': torch.nn.GELU(),
      'relu': torch.nn.ReLU(),
      'leaky': torch.nn.LeakyReLU(),
      'silu': torch.nn.SiLU(),
      'linear': torch.nn.Identity()
  }[name]
  np.testing.assert_allclose(
      np.asarray(layers.activation_fn(name)(jnp.asarray(x))),
      module(torch.tensor(x)).numpy(),
      atol=1e-6)
