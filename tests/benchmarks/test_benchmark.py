"""Model benchmark CLI (train / infer / memory) and encoder rematerialisation."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wav2sleep_jax.benchmarks import model_bench
from wav2sleep_jax.configs import common
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import wav2sleep
from wav2sleep_jax.training import trainer
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_params, random_signals, tiny_config

# A tiny model on 3-minute nights of one signal: the CLI runs in seconds.
_TINY_FLAGS = [
    '--config=wav2sleep_jax/configs/default.py', '--signals=THX', '--hours=0.05',
    '--config.model.feature_dim=8', '--config.model.encoder_initial_channels=2',
    '--config.model.encoder_max_channels=4', '--config.model.mixer_heads=2',
    '--config.model.mixer_ff_dim=16', '--config.model.mixer_layers=1',
    '--config.model.sequence_blocks=1', '--config.model.sequence_dilations=(1,)'
]


def _run_cli(tmp_path, kind, *extra):
  out = tmp_path / f'{kind}.json'
  proc = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.benchmark', kind, *_TINY_FLAGS, *extra, f'--json={out}'
  ],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['train', 'infer'])
def test_throughput_cli_writes_json(tmp_path, kind):
  result = _run_cli(tmp_path, kind, '--batch=2', '--repeats=2', '--warmup=1', '--remat')
  assert result['benchmark'] == kind
  for key in ('nights_per_s', 's_per_night', 'median_s', 'compile_s', 'peak_memory_bytes',
              'peak_host_rss_bytes', 'run_peak_host_rss_bytes', 'xla_memory', 'flops_per_step',
              'mfu', 'machine'):
    assert key in result, key
  assert len(result['repeats_s']) == 2
  assert result['nights_per_s'] == pytest.approx(2 / result['median_s'])
  assert result['compile_s'] > 0 and result['peak_memory_bytes'] > 0
  assert result['xla_memory']['temp_bytes'] > 0
  config = result['config']
  assert config['batch'] == 2 and config['epochs'] == 6 and config['signals'] == ['THX']
  assert config['remat'] and config['model']['feature_dim'] == 8
  assert result['device']['platform'] == jax.default_backend()
  assert result['device']['device_count'] == jax.device_count()
  if result['device']['platform'] == 'cpu':
    assert result['mfu'] is None and 'unknown' in result['mfu_note']


@pytest.mark.slow
def test_memory_cli_writes_json(tmp_path):
  result = _run_cli(tmp_path, 'memory', '--max_batch=1')
  assert result['largest_batch'] == 1 and result['search_capped']
  assert set(result['bytes_by_batch']) == {'1'}
  assert 0 < result['largest_batch_bytes'] <= result['budget_bytes']
  assert result['compile_s'] > 0 and result['config']['epochs'] == 6


@pytest.mark.parametrize('budget, largest', [(0.5, 0), (1, 1), (5.5, 5), (12, 12), (100, 16)])
def test_largest_batch_search(monkeypatch, budget, largest):
  compiled = []

  def fake_train_memory(config, mcfg, batch, epochs):
    compiled.append(batch)
    return {'total_bytes': batch * 1e9 + 1e8, 'compile_s': 1.0}

  monkeypatch.setattr(model_bench, 'train_memory', fake_train_memory)
  config = common.base_config()
  result = model_bench.largest_batch(
      config, model_bench.model_config(config), 1200, budget * 1e9 + 1e8, max_batch=16)
  assert result['largest_batch'] == largest
  assert result['search_capped'] == (largest == 16)
  assert len(compiled) == len(set(compiled)) <= 8  # Doubling then bisection, no repeats.
  if len(compiled) > 1:
    assert result['bytes_per_night'] == pytest.approx(1e9)


@pytest.mark.slow
def test_remat_keeps_loss_and_gradients_and_saves_memory():
  cfg = tiny_config(
      signals=('ABD', 'THX'),
      encoder_impl='loop',
      mixer_layers=1,
      sequence_blocks=1,
      sequence_dilations=(1,))
  params = random_params(cfg, scale=0.1)
  x = {k: jnp.asarray(v) for k, v in random_signals(cfg.signals, batch=2, epochs=8).items()}
  mask_BM = jnp.ones((2, 2), bool)
  labels_BS = jnp.asarray(np.random.default_rng(0).integers(0, 4, (2, 8)))

  def loss_and_grads(c):
    graphdef = model_io.graphdef(c)

    def loss_fn(p):
      logits_BSK = nnx.merge(graphdef, p)(x, mask_BM)
      return -jnp.take_along_axis(jax.nn.log_softmax(logits_BSK), labels_BS[..., None], -1).mean()

    compiled = jax.jit(
        jax.value_and_grad(loss_fn),
        compiler_options=wav2sleep.compiler_options(c)).lower(params).compile()
    return compiled(params), compiled.memory_analysis().temp_size_in_bytes

  (loss, grads), temp = loss_and_grads(cfg)
  for impl in ('loop', 'vmap'):  # vmap stacks the two same-rate encoders.
    (loss_remat,
     grads_remat), temp_remat = loss_and_grads(cfg.replace(remat=True, encoder_impl=impl))
    np.testing.assert_allclose(loss_remat, loss, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads_remat), jax.tree.leaves(grads)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    if impl == 'loop':  # Encoder activations dominate; remat keeps block inputs only.
      assert temp_remat < 0.6 * temp, (temp_remat, temp)


def test_remat_config_round_trips():
  config = common.base_config()
  config.model.remat = True
  cfg = trainer.model_config_from(config)
  assert cfg.remat
  saved = json.loads(json.dumps(model_io.config_to_dict(cfg)))
  assert model_io.config_from_dict(saved) == cfg
  del saved['remat']  # model_config.json written before the field existed.
  assert model_io.config_from_dict(saved) == cfg.replace(remat=False)


@pytest.mark.slow
def test_compare_cli_reports_both_sides_and_ratio(tmp_path):
  pytest.importorskip('torch', reason="the PyTorch baseline needs the 'torch' extra")
  result = _run_cli(tmp_path, 'compare', '--batch=2', '--repeats=1', '--warmup=0')
  assert result['benchmark'] == 'compare' and result['machine']['cpu']
  assert 'cpu_flags' in result['machine']
  rows = {row['kind']: row for row in result['rows']}
  assert set(rows) == {'train', 'infer'}
  for kind, row in rows.items():
    assert row['ours_s_per_night'] == result['ours'][kind]['s_per_night']
    assert row['baseline_s_per_night'] == result['baseline'][kind]['s_per_night']
    assert row['ratio'] == pytest.approx(row['baseline_s_per_night'] / row['ours_s_per_night'])
    assert result['baseline'][kind]['epochs'] == result['ours'][kind]['config']['epochs'] == 6
  assert '| train |' in result['table'] and result['machine']['cpu'] in result['table']
  assert result['baseline_heap'] == 'system' and 'baseline heap: system' in result['table']


def test_baseline_heap_is_the_system_default_or_our_settings(monkeypatch):
  from wav2sleep_jax.benchmarks import compare
  from wav2sleep_jax.models import host_heap
  monkeypatch.setenv('MALLOC_ARENA_MAX', '1')
  monkeypatch.setenv('WAV2SLEEP_REUSABLE_HEAP', '1')
  system = compare._baseline_env('system')
  assert not set(host_heap.SETTINGS) & set(system) and 'WAV2SLEEP_REUSABLE_HEAP' not in system
  reusable = compare._baseline_env('reusable')
  assert all(reusable[k] == v for k, v in host_heap.SETTINGS.items())
  with pytest.raises(ValueError, match='baseline heap'):
    compare._baseline_env('jemalloc')


_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 sha_ni

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 26
model name\t: Other
"""


def test_cpu_identity_tells_generations_of_one_model_name_apart():
  from wav2sleep_jax import benchmark as benchmark_cli
  ident = benchmark_cli.cpu_identity(_CPUINFO)
  assert ident['cpu'] == 'AMD EPYC (family 25, model 17)'  # The first processor only.
  assert ident['cpu_id'] == {
      'vendor': 'AuthenticAMD',
      'family': '25',
      'model': '17',
      'stepping': '1'
  }
  assert ident['cpu_flags'] == ['avx2', 'avx512_bf16', 'avx512f', 'fma']
  bare = benchmark_cli.cpu_identity('model name\t: Some CPU\nflags\t: avx2\n')
  assert bare['cpu'] == 'Some CPU' and bare['cpu_flags'] == ['avx2']
