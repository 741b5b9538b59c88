"""`predict` end to end on a synthetic EDF folder: read, resample, infer, write.

Nights of one length ('fixed') or of evenly spread lengths ('varied', over
1.5 h from --hours up) in a cohort layout, staged by `runner.predict_files`.
Reported: nights/min, XLA compilations, peak RSS, and the split of time between
reading (read + resample + checks, timed alone first) and inference (the time
spent in the model's forward passes during the run, compilations included);
`efficiency` is the measured rate over the rate the slower of the two allows
(the issue's bound; 1.0: reading and inference fully overlapped).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from wav2sleep_jax import synthetic
from wav2sleep_jax.benchmarks import model_bench
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import runner
from wav2sleep_jax.psg import input_files
from wav2sleep_jax.synthetic import layouts

LENGTHS = ('varied', 'fixed')
SPREAD_HOURS = 1.5  # Varied nights span [hours, hours + SPREAD_HOURS].


def night_hours(nights: int,
                hours: float,
                lengths: str,
                spread: float = SPREAD_HOURS) -> list[float]:
  """Each night's length: evenly over [hours, hours + spread] ('varied') or all of the
  middle ('fixed')."""
  if lengths not in LENGTHS:
    raise ValueError(f'lengths must be one of {LENGTHS}, got {lengths!r}.')
  if lengths == 'fixed':
    return [hours + spread / 2] * nights
  return [float(h) for h in np.linspace(hours, hours + spread, nights)]


def write_folder(folder: str, cohort: str, hours_per_night: list[float]) -> list[str]:
  """Synthetic EDF + annotation nights of `cohort`'s layout under `folder`."""
  spec = layouts.get(cohort)
  paths = []
  for i, hours in enumerate(hours_per_night):
    night = synthetic.generate_night(spec, seed=0, night_index=i, hours=hours)
    paths.append(synthetic.write_night(night, folder)['edf'])
  return paths


class _timed_forward:  # pylint: disable=invalid-name
  """Times `model.logits` while active (seconds and calls in the attributes)."""

  def __init__(self, model: model_lib.StagingModel):
    self._model, self.seconds, self.calls = model, 0.0, 0

  def __enter__(self):
    forward = self._model.logits

    def logits(*args, **kwargs):
      start = time.perf_counter()
      try:
        return forward(*args, **kwargs)
      finally:
        self.seconds += time.perf_counter() - start
        self.calls += 1

    self._model.logits = logits  # An instance attribute shadows the method.
    return self

  def __exit__(self, *exc):
    del self._model.logits


def read_seconds(model: model_lib.StagingModel, folder: str) -> float:
  """Seconds to read, resample and check every night once, one after the other."""
  files = input_files.find_inputs(folder)
  run = runner.FilesRun(model, model.signals, '', folder, {}, None)
  start = time.perf_counter()
  for item in files:
    run.read(item)
  return time.perf_counter() - start


def run_predict_benchmark(model: model_lib.StagingModel, folder: str, output_dir: str, *,
                          bucket_hours: float, batch_size: int, workers: int) -> dict[str, Any]:
  """Times `predict_files` over `folder` (after timing the reading alone)."""
  read_s = read_seconds(model, folder)
  before = model_lib.compilations()
  with _timed_forward(model) as timed:
    result = runner.predict_files(
        model,
        folder,
        output_dir,
        batch_size=batch_size,
        bucket_hours=bucket_hours,
        workers=workers,
        formats=('csv',),
        progress=False)
  n = len(result.predicted)
  if not n:
    raise RuntimeError(f'No night was staged: {result.report.summary_text()}')
  per_night = {'read_s': read_s / n, 'inference_s': timed.seconds / n}
  bound_s = max(read_s, timed.seconds)  # The bound: the slower stage, per night.
  return {
      'nights': n,
      'skipped': len(result.skipped),
      'seconds': result.seconds,
      'nights_per_min': 60 * n / result.seconds,
      'compilations': model_lib.compilations() - before,
      'forward_calls': timed.calls,
      'read_s_total': read_s,
      'inference_s_total': timed.seconds,
      'per_night': per_night,
      'efficiency': bound_s / result.seconds,
      'peak_host_rss_bytes': model_bench.peak_memory()['peak_host_rss_bytes'],
      'bucket_hours': bucket_hours,
      'batch_size': batch_size,
      'workers': workers
  }


def benchmark(model: model_lib.StagingModel,
              tmp: str,
              *,
              cohort: str,
              nights: int,
              hours: float,
              lengths: str,
              bucket_hours: float,
              batch_size: int,
              workers: int,
              spread: float = SPREAD_HOURS) -> dict[str, Any]:
  """Writes the synthetic folder into `tmp` and runs `run_predict_benchmark`."""
  hours_per_night = night_hours(nights, hours, lengths, spread)
  folder = os.path.join(tmp, 'edfs')
  start = time.perf_counter()
  write_folder(folder, cohort, hours_per_night)
  synthesis_s = time.perf_counter() - start
  result = run_predict_benchmark(
      model,
      folder,
      os.path.join(tmp, 'out'),
      bucket_hours=bucket_hours,
      batch_size=batch_size,
      workers=workers)
  return {
      'cohort': cohort,
      'lengths': lengths,
      'night_hours': hours_per_night,
      'synthesis_s': synthesis_s,
      **result
  }
