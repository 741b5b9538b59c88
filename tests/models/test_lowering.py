"""The train step, eval step and predict function lower for GPU and TPU from this CPU host,
without the CPU-only fast paths (and with them when lowered for CPU)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wav2sleep_jax.configs import common
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.inference import exporting
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import host_heap
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.training import step as step_lib
from tests.model_testutil import random_params, random_signals, tiny_config

_CFG = tiny_config(signals=('ABD', 'THX'), mixer_layers=1, sequence_blocks=1)
_EPOCHS = 4
_MARKERS = (f'{cpu_fast_paths.SCOPE}/conv1d', f'{cpu_fast_paths.SCOPE}/encoder_loop')


def _batch():
  x = random_signals(_CFG.signals, batch=2, epochs=_EPOCHS)
  return {
      'signals': x,
      'present': np.ones((2, 2), bool),
      'is_night': np.ones(2, bool),
      'labels': np.zeros((2, _EPOCHS), np.int32)
  }


def _train_text(platform: str) -> str:
  config = common.base_config()
  tx = step_lib.make_optimizer(config)
  params = random_params(_CFG)
  state = step_lib.create_train_state(config, params, tx)
  step = jax.jit(step_lib.make_train_step(model_io.graphdef(_CFG), config, tx, _CFG.signals))
  lowered = step.trace(state, _batch(), jax.random.key(0)).lower(lowering_platforms=(platform,))
  return lowered.as_text(debug_info=True)


def _eval_text(platform: str) -> str:
  step = evaluator.make_eval_step(model_io.graphdef(_CFG), _CFG.num_classes)
  lowered = step.trace(random_params(_CFG), _batch(), np.ones(2, bool),
                       False).lower(lowering_platforms=(platform,))
  return lowered.as_text(debug_info=True)


def _predict_text(platform: str) -> str:
  model = model_lib.StagingModel(_CFG, random_params(_CFG))
  x = {k: jnp.asarray(v) for k, v in random_signals(_CFG.signals, 2, _EPOCHS).items()}
  lowered = jax.jit(model.forward).trace(x, jnp.ones((2, 2),
                                                     bool)).lower(lowering_platforms=(platform,))
  return lowered.as_text(debug_info=True)


@pytest.mark.slow
@pytest.mark.parametrize('platform', ['cuda', 'tpu'])
def test_steps_lower_for_accelerators_without_cpu_paths(platform):
  for name, text in (('train', _train_text(platform)), ('eval', _eval_text(platform)),
                     ('predict', _predict_text(platform))):
    assert f'{cpu_fast_paths.SCOPE}/' not in text, (name, platform)
  # The accelerator lowering stacks same-rate encoders (vmap) instead of looping.
  assert 'jvp(vmap' in _train_text(platform) or 'vmap(' in _train_text(platform)


def test_cpu_lowering_takes_the_fast_paths():
  text = _train_text('cpu')
  for marker in _MARKERS:
    assert marker in text, marker
  assert f'{cpu_fast_paths.SCOPE}/encoder_loop' in _eval_text('cpu')


def test_switch_turns_the_cpu_paths_off(monkeypatch):
  monkeypatch.setenv(cpu_fast_paths.SWITCH, '0')
  assert f'{cpu_fast_paths.SCOPE}/' not in _train_text('cpu')
  assert not host_heap.applies()


def test_export_for_cuda_from_cpu_has_no_cpu_paths():
  model = model_lib.StagingModel(_CFG, random_params(_CFG))
  exported = exporting.export_model(model, epochs=_EPOCHS, batch_size=1, platforms=['cuda'])
  assert exported.platforms == ('cuda',)
  assert f'{cpu_fast_paths.SCOPE}/' not in exported.mlir_module()


@pytest.mark.slow
def test_fast_and_plain_paths_agree_on_cpu():
  """The per-platform wrapper only changes how, not what, is computed."""
  params = random_params(_CFG, scale=0.1)
  x = {k: jnp.asarray(v) for k, v in random_signals(_CFG.signals, 2, _EPOCHS).items()}
  graphdef = model_io.graphdef(_CFG)

  def loss(p, on):
    with cpu_fast_paths._tracing(on):  # pylint: disable=protected-access
      return nnx.merge(graphdef, p)(x, jnp.ones((2, 2), bool)).sum()

  fast = jax.jit(jax.value_and_grad(lambda p: loss(p, True)))(params)
  plain = jax.jit(jax.value_and_grad(lambda p: loss(p, False)))(params)
  np.testing.assert_allclose(fast[0], plain[0], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(fast[1]), jax.tree.leaves(plain[1])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('value, expected', [('cuda', True), ('tpu', True), ('cpu', False)])
def test_heap_reexec_only_for_xla_cpu(monkeypatch, value, expected):
  monkeypatch.setenv('JAX_PLATFORMS', value)
  assert host_heap.accelerator_expected() is expected
  if expected:
    assert not host_heap.applies()
