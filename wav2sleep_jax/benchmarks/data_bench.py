"""Data benchmark: nights built per minute per core, read back and fed per second.

    from wav2sleep_jax.benchmarks import data_bench
    data_bench.run_data_benchmark('/data/mesa', 'mesa',
                                  data_dir='~/tensorflow_datasets', dataset='mesa')

Build throughput is measured in one process (= one core) over the work a
dataset build does per night: read the EDF and the annotation, check and
resample the channels, and encode and serialize the example. Read throughput
is random access through `tfds.data_source` over a prepared dataset. Pipeline
throughput is the training input pipeline itself (`data.pipeline.
train_dataset`: Grain shuffle, random 10-h window, per-night normalisation,
batching) with 0 (in-process), 1, 2, ... worker processes, timed after three
warm-up batches; `pipeline_workers_for` says how many workers sustain a given
accelerator rate at the measured per-worker rate. The builders themselves
(tfds_builders) are not imported.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Sequence

from absl import flags
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import example_serializer

from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.data import records
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import cohorts


def _nbytes(tree: Any) -> int:
  if isinstance(tree, dict):
    return sum(_nbytes(v) for v in tree.values())
  return np.asarray(tree).nbytes


def benchmark_build(manual_dir: str,
                    cohort: str,
                    *,
                    signals: Sequence[str] = grid.CARDIORESPIRATORY,
                    max_nights: int | None = None) -> dict[str, float]:
  """Per-core cost of building nights from EDF + annotations."""
  spec = cohorts.get(cohort)
  options = cohort_files.NightOptions(signals=tuple(signals))
  features = records.night_features(options.signals)
  serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
  found = cohort_files.find_nights(manual_dir, spec)[:max_nights]
  built = skipped = serialized_bytes = 0
  hours = 0.0
  wall, cpu = time.perf_counter(), time.process_time()
  for files in found:
    result = cohort_files.assemble_night(files, spec, options)
    if result.night is None:
      skipped += 1
      continue
    example = features.encode_example(records.to_example(result.night, options.signals))
    serialized_bytes += len(serializer.serialize_example(example))
    built += 1
    hours += result.night.num_epochs * grid.EPOCH_SECONDS / 3600
  wall = time.perf_counter() - wall
  cpu = time.process_time() - cpu
  return {
      'build_nights': built,
      'build_nights_skipped': skipped,
      'build_hours_of_recording': hours,
      'build_seconds': wall,
      'build_cpu_seconds': cpu,
      'build_nights_per_min_per_core': 60.0 * built / max(wall, 1e-9),
      'build_mb_per_night': serialized_bytes / 1e6 / max(built, 1),
  }


def benchmark_read(dataset: str,
                   data_dir: str,
                   split: str = 'train',
                   repeats: int = 3,
                   seed: int = 0) -> dict[str, float]:
  """Random-access reads of whole nights through `tfds.data_source`."""
  source = tfds.data_source(dataset, split=split, data_dir=data_dir, download=False)
  order = np.random.default_rng(seed).permutation(np.tile(np.arange(len(source)), repeats))
  total_bytes = 0
  start = time.perf_counter()
  for index in order:
    example = source[int(index)]
    total_bytes += _nbytes(example['signals']) + _nbytes(example['labels'])
  seconds = time.perf_counter() - start
  return {
      'read_nights': len(order),
      'read_seconds': seconds,
      'read_nights_per_s': len(order) / max(seconds, 1e-9),
      'read_mb_per_s': total_bytes / 1e6 / max(seconds, 1e-9),
  }


def benchmark_pipeline(
    dataset: str,
    data_dir: str,
    *,
    split: str = 'train',
    signals: Sequence[str] = grid.CARDIORESPIRATORY,
    epochs: int = 1200,
    batch_size: int = 8,
    batches: int = 12,
    worker_counts: Sequence[int] = (0, 1, 2)) -> dict[str, Any]:
  """Nights/s out of the Grain training pipeline for each worker count.

  Each count gets a fresh pipeline; the first batches (worker start-up, file
  opening, filling the prefetch buffers) are not timed, then `batches` are.
  """
  if any(worker_counts) and not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()  # Grain reads its absl flags when starting workers.
  source = pipeline.load_source(dataset, split, data_dir)
  spec = pipeline.NightSpec(signals=tuple(signals), num_epochs=epochs)
  runs = []
  for workers in worker_counts:
    iterator = iter(pipeline.train_dataset(source, spec, batch_size, seed=0, worker_count=workers))
    for _ in range(3):
      next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
      batch = next(iterator)
    seconds = time.perf_counter() - start
    rate = batches * batch_size / max(seconds, 1e-9)
    runs.append({
        'workers': workers,
        'nights_per_s': rate,
        'nights_per_s_per_worker': rate / max(workers, 1),
        'mb_per_night': _nbytes(batch['signals']) / 1e6 / batch_size
    })
    del iterator  # Stops the worker processes.
  return {
      'pipeline_epochs': epochs,
      'pipeline_batch_size': batch_size,
      'pipeline_batches': batches,
      'pipeline': runs
  }


def pipeline_workers_for(nights_per_s: float, runs: Sequence[dict[str, Any]]) -> int:
  """Workers needed for `nights_per_s`, from the best measured per-worker rate."""
  per_worker = max(r['nights_per_s_per_worker'] for r in runs if r['workers'] > 0)
  return math.ceil(nights_per_s / per_worker)


def run_data_benchmark(
    manual_dir: str,
    cohort: str,
    *,
    data_dir: str | None = None,
    dataset: str | None = None,
    split: str = 'train',
    signals: Sequence[str] = grid.CARDIORESPIRATORY,
    max_nights: int | None = None,
    read_repeats: int = 3,
    pipeline_epochs: int = 1200,
    pipeline_batches: int = 12,
    worker_counts: Sequence[int] = (0, 1, 2),
    target_nights_per_s: Sequence[float] = (100.0,)
) -> dict[str, Any]:
  """Build and (if `dataset` is given) read benchmarks, as one flat dict.

  Args:
    manual_dir: NSRR-layout folder of `cohort` (real or synthetic).
    cohort: cohort layout ('mesa', 'shhs', ...).
    data_dir: TFDS data dir holding the prepared `dataset`.
    dataset: TFDS name of the prepared data, e.g. 'mesa' or
      'synthetic/mesa_like'; None skips the read benchmark.
    split: split to read.
    signals: stored signals.
    max_nights: build at most this many nights.
    read_repeats: passes over the split (in random order).
    pipeline_epochs: training window of the pipeline benchmark (1200 = 10 h).
    pipeline_batches: timed batches per worker count.
    worker_counts: Grain worker counts to measure (0 = in-process).
    target_nights_per_s: accelerator rates to size the worker count for.
  """
  result: dict[str, Any] = {'cohort': cohort, 'cpu_count': os.cpu_count()}
  result.update(benchmark_build(manual_dir, cohort, signals=signals, max_nights=max_nights))
  if dataset is not None:
    result['dataset'] = dataset
    data_dir = os.path.expanduser(data_dir or '')
    result.update(benchmark_read(dataset, data_dir, split, read_repeats))
    result.update(
        benchmark_pipeline(
            dataset,
            data_dir,
            split=split,
            signals=signals,
            epochs=pipeline_epochs,
            batches=pipeline_batches,
            worker_counts=worker_counts))
    if any(r['workers'] > 0 for r in result['pipeline']):
      result['pipeline_workers_for'] = {
          f'{rate:g}': pipeline_workers_for(rate, result['pipeline']) for rate in target_nights_per_s
      }
  return result
