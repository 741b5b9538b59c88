"""Small building blocks shared by the wav2sleep modules.

Array names carry shape suffixes; the legend is in `wav2sleep_jax.core`.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax.ad_checkpoint import checkpoint_name

from wav2sleep_jax.models import cpu_fast_paths

_SQRT_HALF = 0.7071067811865476


def gelu_exact(x: jax.Array) -> jax.Array:
  """x * Phi(x) through erf, exactly as torch computes its default GELU.

  `jax.nn.gelu(approximate=False)` goes through erfc, which XLA expands into
  several branches with an exp and two divisions per element; on CPU that form
  costs 2.4x the time of this one forward and 1.4x backward. Both agree to
  float32 rounding (the erf form loses only absolute ~1e-7 in the far negative
  tail, where torch does the same).
  """
  return 0.5 * x * (1 + jax.lax.erf(x * jnp.asarray(_SQRT_HALF, x.dtype)))


def leaky_relu(x: jax.Array) -> jax.Array:
  """torch.nn.LeakyReLU() (negative slope 0.01)."""
  return jnp.where(x >= 0, x, x * jnp.asarray(0.01, x.dtype))


_ACTIVATIONS = {
    'gelu': gelu_exact,
    'relu': jax.nn.relu,
    'leaky': leaky_relu,
    'silu': jax.nn.silu,
    'linear': lambda x: x
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
  """Activation by the reference's name; GELU is the exact erf form (torch's default)."""
  try:
    return _ACTIVATIONS[name]
  except KeyError:
    raise ValueError(f'Unknown activation {name!r} (expected one of '
                     f'{", ".join(_ACTIVATIONS)}).') from None


# Name of the per-channel statistics that encoder rematerialisation keeps.
NORM_STATS = 'instance_norm_stats'


def _moments(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean and (centred, two-pass) variance over axis -2, tagged `NORM_STATS`.

  The tag lets `jax.checkpoint` keep these tiny arrays, so a rematerialised
  block recomputes only elementwise work, not the reductions.
  """
  mean = checkpoint_name(jnp.mean(x, axis=-2, keepdims=True), NORM_STATS)
  var = jnp.mean(jnp.square(x - mean), axis=-2, keepdims=True)
  return mean, checkpoint_name(var, NORM_STATS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _normalize(x: jax.Array, eps: float) -> jax.Array:
  """(x - mean) / sqrt(var + eps) over axis -2 (float32 in, float32 out)."""
  return _normalize_fwd(x, eps)[0]


def _normalize_fwd(x, eps):
  mean, var = _moments(x)
  rstd = jax.lax.rsqrt(var + eps)
  return (x - mean) * rstd, (x, mean, rstd)


def _normalize_bwd(eps, residuals, g):
  """dx = rstd * (g - mean(g) - y * mean(g * y)), with y recomputed from x.

  Two reductions and one elementwise pass; autodiff of the forward would
  differentiate through both moments and make several more passes over x.
  """
  del eps
  x, mean, rstd = residuals
  y = (x - mean) * rstd
  g_mean = jnp.mean(g, axis=-2, keepdims=True)
  gy_mean = jnp.mean(g * y, axis=-2, keepdims=True)
  return (rstd * (g - g_mean - y * gy_mean),)


_normalize.defvjp(_normalize_fwd, _normalize_bwd)


def time_mask(valid_B: jax.Array, length: int, steps_per_epoch: int) -> jax.Array:
  """[B, L, 1] True on the first valid_B * steps_per_epoch time steps of each night."""
  steps_B = valid_B.astype(jnp.int32) * steps_per_epoch
  return (jnp.arange(length, dtype=jnp.int32)[None, :] < steps_B[:, None])[..., None]


def masked_moments(x: jax.Array, mask: jax.Array,
                   axes: tuple[int, ...] = (-2,)) -> tuple[jax.Array, jax.Array]:
  """Mean and centred variance of x over `axes`, valid (mask True) entries only."""
  count = jnp.maximum(jnp.sum(mask, axis=axes, keepdims=True, dtype=jnp.float32), 1.0)
  mean = jnp.sum(jnp.where(mask, x, 0), axis=axes, keepdims=True) / count
  mean = checkpoint_name(mean, NORM_STATS)
  var = jnp.sum(jnp.where(mask, jnp.square(x - mean), 0), axis=axes, keepdims=True) / count
  return mean, checkpoint_name(var, NORM_STATS)


def instance_norm(x_BLC: jax.Array,
                  eps: float,
                  chunk: int | None = None,
                  mask_BL1: jax.Array | None = None) -> jax.Array:
  """Normalise each channel over time (no affine), like torch InstanceNorm1d.

  Args:
    x_BLC: activations, time on axis 1.
    eps: variance epsilon.
    chunk: if given, normalise each consecutive window of `chunk` steps on its
      own (epoch-local statistics, used by the causal model).
    mask_BL1: valid time steps (`time_mask`): statistics over them only, and
      zeros elsewhere (exact padding). Not combined with `chunk`.
  Returns:
    Normalised activations in the input dtype; statistics in float32.
  """
  dtype = x_BLC.dtype
  x = x_BLC.astype(jnp.float32)
  if mask_BL1 is not None:
    if chunk is not None:
      raise ValueError('instance_norm: mask_BL1 and chunk are exclusive.')
    mean, var = masked_moments(x, mask_BL1)
    return jnp.where(mask_BL1, (x - mean) * jax.lax.rsqrt(var + eps), 0).astype(dtype)
  if chunk is not None:
    b, l, c = x.shape
    x = x.reshape(b, l // chunk, chunk, c)
  return _normalize(x, eps).reshape(x_BLC.shape).astype(dtype)


_NWC = ('NWC', 'WIO', 'NWC')


def _conv1d(x_BLC: jax.Array, kernel_WIO: jax.Array, stride: int, padding: tuple[int,
                                                                                 int]) -> jax.Array:
  return jax.lax.conv_general_dilated(
      x_BLC, kernel_WIO, (stride,), (padding,), dimension_numbers=_NWC)


def _shift_time(g_BLC: jax.Array, q: int) -> jax.Array:
  """g[:, u - q] (zero where u - q is outside the night)."""
  if q == 0:
    return g_BLC
  length = g_BLC.shape[1]
  if q > 0:
    return jnp.pad(g_BLC[:, :length - q], ((0, 0), (q, 0), (0, 0)))
  return jnp.pad(g_BLC[:, -q:], ((0, 0), (0, -q), (0, 0)))


def conv1d_weight_grad(x_BLC: jax.Array, g_BLO: jax.Array, kernel_size: int, stride: int,
                       padding: tuple[int, int]) -> jax.Array:
  """Kernel gradient [W, C, O] of a 1-D NWC conv with L // stride output steps, as one matmul.

  dW[w] = sum_t x[s*t + w - pad_left] g[t]^T, a contraction over all B * L // stride output
  steps, done as a single [rows, a]^T x [rows, b] matmul over time-major arrays.
  One side is copied into shifted columns, whichever is narrower:
  - the input's W taps ([rows, W*C], im2col of x), when W*C is the narrower; else
  - the output gradient shifted by q ([rows, (#q)*O]) against x grouped s steps
    per row (a free reshape): writing the tap offset w - pad_left as s*q + r,
    dW[w] is block r of that product.
  XLA:CPU instead transposes both activations and runs a "convolution" with a
  window as long as the night, several times slower on the long, narrow
  encoder activations.
  """
  b, length, c = x_BLC.shape
  steps, out_channels = g_BLO.shape[1], g_BLO.shape[-1]
  offsets = [k - padding[0] for k in range(kernel_size)]
  shifts = sorted({o // stride for o in offsets})
  contract_rows = (((0,), (0,)), ((), ()))
  if kernel_size * c < len(shifts) * out_channels:
    x_pad = jnp.pad(x_BLC, ((0, 0), padding, (0, 0)))
    taps = [
        jax.lax.slice_in_dim(x_pad, k, k + stride * (steps - 1) + 1, stride, axis=1)
        for k in range(kernel_size)
    ]
    cols = jnp.concatenate(taps, axis=-1).reshape(b * steps, kernel_size * c)
    grad = jax.lax.dot_general(cols, g_BLO.reshape(b * steps, out_channels), contract_rows)
    return grad.reshape(kernel_size, c, out_channels)
  g_cat = jnp.concatenate([_shift_time(g_BLO, q) for q in shifts], axis=-1)
  x_rows = x_BLC.reshape(b * length // stride, stride * c)
  grad = jax.lax.dot_general(x_rows, g_cat.reshape(x_rows.shape[0], -1), contract_rows)
  grad = grad.reshape(stride, c, len(shifts), out_channels)
  return jnp.stack([grad[o % stride, :, shifts.index(o // stride)] for o in offsets])


def _conv1d_cpu(x_BLC: jax.Array, kernel_WIO: jax.Array, stride: int,
                padding: tuple[int, int]) -> jax.Array:
  """`_conv1d`, with the two shapes XLA:CPU's convolution handles slowly done directly.

  - One input channel (each encoder's first layer): a weighted sum of W shifted
    copies of the signal, elementwise (5x faster than the convolution).
  - 1x1 kernels (the strided shortcuts): a strided slice and a matmul (2x at 16
    channels).
  """
  width, channels, _ = kernel_WIO.shape
  steps = (x_BLC.shape[1] + sum(padding) - width) // stride + 1
  if channels == 1:
    x_pad = jnp.pad(x_BLC[..., 0], ((0, 0), padding))
    return sum(
        jax.lax.slice_in_dim(x_pad, k, k + stride * (steps - 1) + 1, stride, axis=1)[..., None] *
        kernel_WIO[k, 0] for k in range(width))
  if width == 1 and padding == (0, 0):
    x_BSC = jax.lax.slice_in_dim(x_BLC, 0, stride * (steps - 1) + 1, stride, axis=1)
    return jnp.einsum('bsc,co->bso', x_BSC, kernel_WIO[0], precision=jax.lax.Precision.HIGHEST)
  return _conv1d(x_BLC, kernel_WIO, stride, padding)


def conv1d_input_grad(g_BSO: jax.Array, kernel_WIO: jax.Array, stride: int,
                      padding: tuple[int, int], length: int) -> jax.Array:
  """Input gradient [B, length, C] of a 1-D NWC conv with S = length // stride outputs.

  Input step i = stride*u + r receives g[u + e] w[k]^T for every tap k with
  r + pad_left - k = stride*e. Grouping the `stride` phases r as channels makes
  this one stride-1 convolution of g with stride*C outputs, reshaped back to
  time. XLA:CPU instead convolves a zero-dilated g (stride x the work): 2.6x
  slower for the k=3 stride-2 layers, 7x for the 1x1 stride-2 shortcuts.
  """
  width, channels, out_channels = kernel_WIO.shape
  taps = {}  # (e, r) -> k
  for k in range(width):
    for r in range(stride):
      if (r + padding[0] - k) % stride == 0:
        taps[((r + padding[0] - k) // stride, r)] = k
  lo = min(e for e, _ in taps)
  hi = max(e for e, _ in taps)
  w_EOrC = jnp.zeros((hi - lo + 1, out_channels, stride, channels), kernel_WIO.dtype)
  for (e, r), k in taps.items():
    w_EOrC = w_EOrC.at[e - lo, :, r, :].set(kernel_WIO[k].T)
  dx = jax.lax.conv_general_dilated(
      g_BSO,
      w_EOrC.reshape(hi - lo + 1, out_channels, stride * channels), (1,), ((-lo, hi),),
      dimension_numbers=_NWC)
  b, steps, _ = dx.shape
  return dx.reshape(b, steps * stride, channels)[:, :length]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv1d_cpu_grads(x_BLC, kernel_WIO, stride, padding):
  return _conv1d_cpu(x_BLC, kernel_WIO, stride, padding)


def _conv1d_cpu_grads_fwd(x_BLC, kernel_WIO, stride, padding):
  return _conv1d_cpu(x_BLC, kernel_WIO, stride, padding), (x_BLC, kernel_WIO)


def _conv1d_cpu_grads_bwd(stride, padding, residuals, g_BLO):
  x_BLC, kernel_WIO = residuals
  if stride > 1:
    grad_x = conv1d_input_grad(g_BLO, kernel_WIO, stride, padding, x_BLC.shape[1])
  else:
    grad_x = jax.vjp(lambda a: _conv1d(a, kernel_WIO, stride, padding), x_BLC)[1](g_BLO)[0]
  grad_kernel = conv1d_weight_grad(x_BLC, g_BLO, kernel_WIO.shape[0], stride, padding)
  return grad_x.astype(x_BLC.dtype), grad_kernel.astype(kernel_WIO.dtype)


_conv1d_cpu_grads.defvjp(_conv1d_cpu_grads_fwd, _conv1d_cpu_grads_bwd)


def conv_general_dilated(inputs,
                         kernel,
                         window_strides,
                         padding,
                         *,
                         lhs_dilation=None,
                         rhs_dilation=None,
                         dimension_numbers=None,
                         feature_group_count=1,
                         **kwargs):
  """`lax.conv_general_dilated` for `nnx.Conv`, with XLA:CPU's slow cases avoided.

  A CPU fast path (`cpu_fast_paths`, 'conv1d').

  Plain 1-D convolutions (all of the encoder's) run as `_conv1d_cpu` and get
  the kernel gradient of `conv1d_weight_grad` and, when strided, the input
  gradient of `conv1d_input_grad`; anything else (GPU/TPU, dilation, groups,
  lengths not divisible by the stride) goes to XLA unchanged. Values and
  gradients are the same either way (to float32 rounding).
  """
  plain = functools.partial(
      jax.lax.conv_general_dilated,
      inputs,
      kernel,
      window_strides,
      padding,
      lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count,
      **kwargs)
  stride = tuple(window_strides)
  undilated = all(d in (None, 1) for d in (*(lhs_dilation or ()), *(rhs_dilation or ())))
  if (not cpu_fast_paths.active() or inputs.ndim != 3 or len(stride) != 1 or not undilated
      or feature_group_count != 1 or any(v is not None for v in kwargs.values())
      or isinstance(padding, str) or inputs.shape[1] % stride[0]):
    return plain()
  if jax.lax.conv_dimension_numbers(inputs.shape, kernel.shape, dimension_numbers) != \
      jax.lax.conv_dimension_numbers(inputs.shape, kernel.shape, _NWC):
    return plain()
  pad = tuple(int(p) for p in padding[0])
  out_len = (inputs.shape[1] + sum(pad) - kernel.shape[0]) // stride[0] + 1
  if out_len * stride[0] != inputs.shape[1]:
    return plain()
  with cpu_fast_paths.scope('conv1d'):
    return _conv1d_cpu_grads(inputs, kernel, stride[0], pad)


class ChannelNorm(nnx.Module):
  """A parametric norm of [B, L, C] activations with the reference's semantics.

  'layer': over channels per time step, scale and bias (ConvLayerNorm);
  'rms': x / sqrt(mean(x^2) + eps) over channels, scale only (ConvRMSNorm);
  'group': over (channels of a group) x time per night, scale and bias
    (torch GroupNorm), with `groups` groups;
  'batch': frozen batch norm, eval-mode statistics folded into scale and bias.
  Statistics in float32, output in the input dtype.
  """

  def __init__(self,
               kind: str,
               channels: int,
               eps: float,
               groups: int = 1,
               *,
               rngs: nnx.Rngs | None = None):
    del rngs  # Deterministic initialisation (scale 1, bias 0).
    if kind not in ('layer', 'rms', 'group', 'batch'):
      raise ValueError(f'ChannelNorm kind {kind!r} unknown.')
    self.kind, self.eps, self.groups = kind, eps, groups
    self.scale = nnx.Param(jnp.ones((channels,), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((channels,), jnp.float32)) if kind != 'rms' else None

  def __call__(self, x_BLC: jax.Array, mask_BL1: jax.Array | None = None) -> jax.Array:
    """Normalised x_BLC; `mask_BL1` (valid time steps) restricts 'group' statistics."""
    dtype = x_BLC.dtype
    x = x_BLC.astype(jnp.float32)
    if self.kind == 'layer':
      mean = x.mean(axis=-1, keepdims=True)
      x = (x - mean) * jax.lax.rsqrt(jnp.square(x - mean).mean(-1, keepdims=True) + self.eps)
    elif self.kind == 'rms':
      x = x * jax.lax.rsqrt(jnp.square(x).mean(-1, keepdims=True) + self.eps)
    elif self.kind == 'group':
      *lead, length, c = x.shape
      x_grouped = x.reshape(*lead, length, self.groups, c // self.groups)
      if mask_BL1 is None:
        mean = x_grouped.mean(axis=(-3, -1), keepdims=True)
        var = jnp.square(x_grouped - mean).mean(axis=(-3, -1), keepdims=True)
      else:
        mask = jnp.broadcast_to(mask_BL1[..., None], x_grouped.shape)
        mean, var = masked_moments(x_grouped, mask, axes=(-3, -1))
      x = ((x_grouped - mean) * jax.lax.rsqrt(var + self.eps)).reshape(x.shape)
    x = x * self.scale[...]
    if self.bias is not None:
      x = x + self.bias[...]
    return x.astype(dtype)
