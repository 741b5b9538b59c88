"""Generate and build the demo's synthetic cohorts (no downloads needed).

Builds in-process through the dataset-building library (wav2sleep_jax/builders),
TF-free (array_record files); the training process never imports
`tfds_builders`. Cohorts already built under the data dir are reused.
"""

from __future__ import annotations

import pathlib
import time

from absl import logging

from wav2sleep_jax.core import run_dir as run_dir_lib


def built(data_dir: pathlib.Path, name: str) -> bool:
  return any((data_dir / 'synthetic' / name).glob('*/dataset_info.json'))


def _build_cohort(cohort, data_dir: pathlib.Path) -> None:
  """Generates and builds one cohort; RuntimeError naming it if that fails."""
  from wav2sleep_jax.builders import build_runner  # Imports TFDS: only when building.
  from wav2sleep_jax.builders import synthetic_builder
  config = synthetic_builder.SyntheticConfig(
      name=cohort.name,
      cohort_layout=cohort.layout,
      num_nights=cohort.nights,
      hours=cohort.hours,
      seed=cohort.seed,
      split_sizes=tuple(cohort.split_sizes),
      stage_contrast=cohort.get('stage_contrast', 1.0))
  try:
    builder = synthetic_builder.SyntheticBuilder(
        config=config, data_dir=str(data_dir), file_format='array_record')
    left_out = build_runner.build(builder)
  except (ValueError, OSError) as e:
    raise RuntimeError(f'Building the synthetic cohort {cohort.name} failed: {e}') from e
  if left_out:
    raise RuntimeError(f'Building the synthetic cohort {cohort.name} failed: every night '
                       f'of split(s) {", ".join(left_out)} was skipped (see skipped.csv '
                       f'in {builder.data_dir}).')


def prepare(config, workdir: str | pathlib.Path) -> str:
  """Build every cohort in `config.synthetic_cohorts`; returns the data dir used.

  That is the run's data dir (`RunDir.data_dir`): config.data_dir, else WORKDIR/data.
  """
  folder = run_dir_lib.RunDir(workdir)
  data_dir = pathlib.Path(folder.data_dir(config) or folder.generated_data)
  data_dir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  count = 0
  for cohort in config.synthetic_cohorts:
    if built(data_dir, cohort.name):
      logging.info('Synthetic cohort %s already built in %s.', cohort.name, data_dir)
      continue
    print(
        f'Generating + building synthetic cohort {cohort.name} ({cohort.nights} '
        f'{cohort.layout}-like nights of {cohort.hours} h) -> {data_dir}',
        flush=True)
    _build_cohort(cohort, data_dir)
    count += 1
  if count:
    print(f'Built {count} synthetic cohort(s) in {time.perf_counter() - start:.0f} s.', flush=True)
  return str(data_dir)
