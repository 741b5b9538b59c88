"""Model benchmarks: training / inference throughput, compile time and memory.

    from wav2sleep_jax.benchmarks import model_bench
    from wav2sleep_jax.configs import common
    config = common.base_config()
    mcfg = model_bench.model_config(config, remat=True)
    model_bench.benchmark_train(config, mcfg, batch=2, epochs=1200)
    model_bench.largest_batch(config, mcfg, epochs=1200, budget_bytes=24e9)

Inputs are random normal signals of every model signal (all present) with
random labels, built once on device. The training step is the real
`step_lib.make_train_step` (signal masking, polarity flips, forward, backward,
clipping, AdamW); inference is the eval-mode forward pass `StagingModel` runs,
compiled with the same options. Each step is compiled ahead of time (lower, then XLA
compile, both timed), run `warmup` times, then timed `repeats` times with
`jax.block_until_ready`. Batches are split over all local devices (one process).

Memory comes from three places: XLA's buffer assignment of the compiled step
(`memory_analysis()`: arguments + outputs - donated aliases + temporaries),
the process's peak resident set size (overall, and on Linux split into up to
the end of compiling and while stepping), and on GPU/TPU the allocator's peak.
FLOPs are XLA's count for the compiled step, so with remat they include the
recomputation (hardware, not model, FLOP/s).
`largest_batch` only compiles (never runs) the training step, so it is cheap
even for batches that would not fit.
"""

from __future__ import annotations

import os
import pathlib
import resource
import statistics
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from wav2sleep_jax.core import distributed
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import wav2sleep
from wav2sleep_jax.models.config import ModelConfig
from wav2sleep_jax.training import step as step_lib
from wav2sleep_jax.training import trainer

EPOCHS_PER_HOUR = 3600 // signals_lib.EPOCH_SECONDS

# Dense (no sparsity) peak FLOP/s per chip, first matching device_kind substring
# wins. NVIDIA float32 is the TF32 tensor-core peak (XLA's default precision for
# float32 matmuls and convolutions on Ampere and later); TPU float32 is the bf16
# peak (the default precision runs float32 matmuls as one bf16 pass).
_PEAK_FLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ('H100 PCIe', {
        'bfloat16': 756e12,
        'float32': 378e12
    }),
    ('H100', {
        'bfloat16': 989e12,
        'float32': 495e12
    }),  # SXM.
    ('H200', {
        'bfloat16': 989e12,
        'float32': 495e12
    }),
    ('A100', {
        'bfloat16': 312e12,
        'float32': 156e12
    }),
    ('TPU v4', {
        'bfloat16': 275e12,
        'float32': 275e12
    }),
    ('TPU v5 lite', {
        'bfloat16': 197e12,
        'float32': 197e12
    }),  # v5e.
    ('TPU v5', {
        'bfloat16': 459e12,
        'float32': 459e12
    }),  # v5p.
)


def peak_flops_per_s(device_kind: str, dtype: str) -> float | None:
  """Spec-sheet peak FLOP/s of one device, or None when unknown (e.g. CPUs)."""
  for pattern, peaks in _PEAK_FLOPS:
    if pattern.lower() in device_kind.lower():
      return peaks[dtype]
  return None


# ----------------------------------------------------------------------------
# Configuration, devices, inputs
# ----------------------------------------------------------------------------


def model_config(config: ml_collections.ConfigDict,
                 *,
                 signals=None,
                 dtype=None,
                 encoder_impl=None,
                 remat=None) -> ModelConfig:
  """The ModelConfig of a training config, with the given fields overridden."""
  changes = dict(
      signals=None if signals is None else tuple(signals),
      dtype=dtype,
      encoder_impl=encoder_impl,
      remat=remat)
  return trainer.model_config_from(config).replace(**{
      k: v for k, v in changes.items() if v is not None
  })


def device_info() -> dict[str, Any]:
  device = jax.devices()[0]
  stats = device.memory_stats() or {}
  return {
      'platform': device.platform,
      'device_kind': device.device_kind,
      'device_count': jax.device_count(),
      'memory_limit_bytes': stats.get('bytes_limit'),
      'jax': jax.__version__
  }


def peak_memory() -> dict[str, int | None]:
  """Peak host RSS of this process and, where the backend tracks it, device peak.

  `peak_memory_bytes` is the device peak on GPU/TPU and the host peak on CPU.
  """
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  rss *= 1 if sys.platform == 'darwin' else 1024  # Bytes on macOS, KiB on Linux.
  device = (jax.devices()[0].memory_stats() or {}).get('peak_bytes_in_use')
  return {
      'peak_host_rss_bytes': rss,
      'peak_device_bytes': device,
      'peak_memory_bytes': rss if device is None else device
  }


def _running_peak_rss() -> int | None:
  """Peak RSS since process start or the last `_reset_peak_rss` (Linux), else None."""
  try:
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def _reset_peak_rss() -> bool:
  """Restart the peak-RSS count at the current RSS (Linux >= 4.0); False if unsupported."""
  try:
    pathlib.Path('/proc/self/clear_refs').write_text('5')
  except OSError:
    return False
  return True


def host_memory_bytes() -> int:
  return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def _batch_sharding(batch: int):
  mesh = distributed.make_mesh()
  if batch % jax.device_count():
    raise ValueError(f'Batch {batch} is not divisible by the {jax.device_count()} devices.')
  return distributed.replicated(mesh), distributed.batch_sharded(mesh)


def random_batch(mcfg: ModelConfig, batch: int, epochs: int, seed: int = 0) -> dict[str, Any]:
  """Random nights on device: {'signals': {name: [B, S*k]}, 'present', 'labels'}."""
  keys = jax.random.split(jax.random.key(seed), len(mcfg.signals) + 1)
  x = {
      name: jax.random.normal(key, (batch, epochs * signals_lib.samples_per_epoch(name)))
      for key, name in zip(keys, mcfg.signals)
  }
  return {
      'signals': x,
      'present': jnp.ones((batch, len(mcfg.signals)), bool),
      'labels': jax.random.randint(keys[-1], (batch, epochs), 0, mcfg.num_classes)
  }


def _abstract(tree, shard):
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=shard), tree)


# ----------------------------------------------------------------------------
# Compilation, analysis, timing
# ----------------------------------------------------------------------------


def compile_timed(jitted, *args) -> tuple[Any, dict[str, float]]:
  """Ahead-of-time compile; returns (compiled, {lower_s, xla_compile_s, compile_s})."""
  start = time.perf_counter()
  lowered = jitted.lower(*args)
  lowered_at = time.perf_counter()
  compiled = lowered.compile()
  done = time.perf_counter()
  return compiled, {
      'lower_s': lowered_at - start,
      'xla_compile_s': done - lowered_at,
      'compile_s': done - start
  }


def memory_analysis(compiled) -> dict[str, int]:
  """Per-device bytes of XLA's buffer assignment; total = args + outputs - aliases + temps."""
  stats = compiled.memory_analysis()
  if stats is None:
    return {}
  out = {
      f'{k}_bytes': int(getattr(stats, f'{k}_size_in_bytes'))
      for k in ('argument', 'output', 'alias', 'temp', 'generated_code')
  }
  out['total_bytes'] = (
      out['argument_bytes'] + out['output_bytes'] - out['alias_bytes'] + out['temp_bytes'])
  return out


def flop_count(compiled) -> float | None:
  """FLOPs of one call from XLA's cost analysis (None when not reported)."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  flops = (cost or {}).get('flops')
  return float(flops) if flops and flops > 0 else None


def time_steps(step: Callable[[Any], Any], carry: Any, repeats: int,
               warmup: int) -> tuple[list[float], dict[str, int | None]]:
  """Seconds of each of `repeats` calls carry -> carry (blocking), after `warmup` calls.

  Also returns the host peak RSS before the first call (after compiling) and
  while stepping, where the platform can restart the count.
  """
  rss = {'compile_peak_host_rss_bytes': _running_peak_rss()}
  restarted = _reset_peak_rss()
  for _ in range(warmup):
    carry = jax.block_until_ready(step(carry))
  times = []
  for _ in range(max(repeats, 1)):
    start = time.perf_counter()
    carry = jax.block_until_ready(step(carry))
    times.append(time.perf_counter() - start)
  rss['run_peak_host_rss_bytes'] = _running_peak_rss() if restarted else None
  return times, rss


def _summary(times: list[float], batch: int, flops: float | None,
             mcfg: ModelConfig) -> dict[str, Any]:
  median = statistics.median(times)
  out = {
      'repeats_s': times,
      'median_s': median,
      'min_s': min(times),
      'nights_per_s': batch / median,
      's_per_night': median / batch,
      'flops_per_step': flops,
      'flops_per_s': flops / median if flops else None
  }
  kind = jax.devices()[0].device_kind
  peak = peak_flops_per_s(kind, mcfg.dtype)
  if peak is None:
    out.update(
        peak_flops_per_s=None, mfu=None, mfu_note=f'peak FLOP/s unknown for device kind {kind!r}')
  else:
    peak *= jax.device_count()
    out.update(peak_flops_per_s=peak, mfu=flops / median / peak if flops else None)
  return out


def describe(mcfg: ModelConfig, batch: int, epochs: int, **extra) -> dict[str, Any]:
  """The configuration part of a result."""
  num_params = sum(a.size for a in jax.tree.leaves(model_io.abstract_params(mcfg)))
  return {
      'batch': batch,
      'epochs': epochs,
      'hours': epochs / EPOCHS_PER_HOUR,
      'signals': list(mcfg.signals),
      'dtype': mcfg.dtype,
      'encoder_impl': mcfg.encoder_impl,
      'encoder_impl_resolved': wav2sleep.resolve_encoder_impl(mcfg),
      'remat': mcfg.remat,
      'num_params': int(num_params),
      **extra, 'model': model_io.config_to_dict(mcfg)
  }


# ----------------------------------------------------------------------------
# Training step
# ----------------------------------------------------------------------------


def _train_step_and_state(config, mcfg: ModelConfig, batch: int, epochs: int, abstract: bool):
  """(jitted train step, state, batch, rng): arrays on device, or shapes when abstract."""
  replicated, batch_sharded = _batch_sharding(batch)
  tx = step_lib.make_optimizer(config)

  def make_state(params):
    return step_lib.create_train_state(config, params, tx)

  step = jax.jit(
      step_lib.make_train_step(model_io.graphdef(mcfg), config, tx, mcfg.signals),
      donate_argnums=0,
      compiler_options=wav2sleep.compiler_options(mcfg))
  rng = jax.random.key(config.seed)
  if abstract:
    state = _abstract(jax.eval_shape(make_state, model_io.abstract_params(mcfg)), replicated)
    inputs = _abstract(jax.eval_shape(lambda: random_batch(mcfg, batch, epochs)), batch_sharded)
    return step, state, inputs, rng
  params = jax.tree.map(jnp.asarray, model_io.init_params(mcfg, config.seed))
  state = jax.device_put(make_state(params), replicated)
  inputs = jax.device_put(random_batch(mcfg, batch, epochs), batch_sharded)
  return step, state, inputs, rng


def benchmark_train(config: ml_collections.ConfigDict,
                    mcfg: ModelConfig,
                    batch: int,
                    epochs: int,
                    repeats: int = 5,
                    warmup: int = 2) -> dict[str, Any]:
  """Full training steps per second on random nights of `epochs` epochs."""
  step, state, inputs, rng = _train_step_and_state(config, mcfg, batch, epochs, False)
  compiled, compile_times = compile_timed(step, state, inputs, rng)
  times, rss = time_steps(lambda s: compiled(s, inputs, rng)[0], state, repeats, warmup)
  return {
      'config': describe(mcfg, batch, epochs, repeats=repeats, warmup=warmup),
      **compile_times,
      **_summary(times, batch, flop_count(compiled), mcfg), 'xla_memory': memory_analysis(compiled),
      **rss,
      **peak_memory()
  }


def train_memory(config: ml_collections.ConfigDict, mcfg: ModelConfig, batch: int,
                 epochs: int) -> dict[str, Any]:
  """XLA memory of the training step at this batch, compiled but never run."""
  step, state, inputs, rng = _train_step_and_state(config, mcfg, batch, epochs, True)
  compiled, compile_times = compile_timed(step, state, inputs, rng)
  return {**memory_analysis(compiled), **compile_times}


def largest_batch(config: ml_collections.ConfigDict,
                  mcfg: ModelConfig,
                  epochs: int,
                  budget_bytes: float,
                  max_batch: int = 4096) -> dict[str, Any]:
  """Largest batch whose compiled training step fits `budget_bytes` per device.

  Doubles the batch until the step no longer fits, then bisects. Batches are
  multiples of the device count; memory is XLA's per-device total.
  """
  n = jax.device_count()
  measured: dict[int, dict[str, Any]] = {}

  def fits(per_device: int) -> bool:
    if per_device not in measured:
      measured[per_device] = train_memory(config, mcfg, per_device * n, epochs)
    return measured[per_device]['total_bytes'] <= budget_bytes

  lo, hi, size = 0, None, 1
  while size * n <= max_batch:
    if not fits(size):
      hi = size
      break
    lo, size = size, size * 2
  while hi is not None and hi - lo > 1:
    mid = (lo + hi) // 2
    lo, hi = (mid, hi) if fits(mid) else (lo, mid)
  sizes = sorted(measured)
  totals = [measured[b]['total_bytes'] for b in sizes]
  per_night = ((totals[-1] - totals[0]) / ((sizes[-1] - sizes[0]) * n) if len(sizes) > 1 else None)
  return {
      'config': describe(mcfg, lo * n, epochs, budget_bytes=int(budget_bytes), max_batch=max_batch),
      'largest_batch': lo * n,
      'search_capped': hi is None,  # Even max_batch fits.
      'largest_batch_bytes': measured[lo]['total_bytes'] if lo else None,
      'budget_bytes': int(budget_bytes),
      'bytes_per_night': per_night,
      'bytes_by_batch': {
          str(b * n): measured[b] for b in sizes
      },
      'compile_s': sum(m['compile_s'] for m in measured.values()),
      **peak_memory()
  }


# ----------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------


def benchmark_infer(config: ml_collections.ConfigDict,
                    mcfg: ModelConfig,
                    batch: int,
                    epochs: int,
                    repeats: int = 5,
                    warmup: int = 2) -> dict[str, Any]:
  """Eval-mode forward passes (all signals present) per second."""
  replicated, batch_sharded = _batch_sharding(batch)
  graphdef, state = nnx.split(model_io.build_model(mcfg, seed=config.seed))
  state = jax.device_put(state, replicated)
  inputs = jax.device_put(random_batch(mcfg, batch, epochs), batch_sharded)
  x, mask_BM = inputs['signals'], inputs['present']
  forward = jax.jit(
      cpu_fast_paths.per_platform(lambda st, x, mask_BM: nnx.merge(graphdef, st)(x, mask_BM)),
      compiler_options=wav2sleep.compiler_options())
  compiled, compile_times = compile_timed(forward, state, x, mask_BM)
  times, rss = time_steps(lambda _: compiled(state, x, mask_BM), None, repeats, warmup)
  return {
      'config': describe(mcfg, batch, epochs, repeats=repeats, warmup=warmup),
      **compile_times,
      **_summary(times, batch, flop_count(compiled), mcfg), 'xla_memory': memory_analysis(compiled),
      **rss,
      **peak_memory()
  }


def benchmark_step(kind: str,
                   config: ml_collections.ConfigDict,
                   mcfg: ModelConfig,
                   batch: int,
                   epochs: int,
                   repeats: int = 5,
                   warmup: int = 2) -> dict[str, Any]:
  """`benchmark_train` for kind 'train', `benchmark_infer` for 'infer'."""
  run = {'train': benchmark_train, 'infer': benchmark_infer}[kind]
  return run(config, mcfg, batch, epochs, repeats, warmup)
