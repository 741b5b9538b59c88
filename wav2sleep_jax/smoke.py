"""End-to-end smoke run on the embedded default (no downloads needed).

  python -m wav2sleep_jax.smoke [--workdir=runs/smoke] [--hours=2]

Writes one synthetic MESA-like night (real EDF + NSRR XML) and one SHHS-like
night (no PPG), reads them back as predict does (`psg.night.read_night`, the
builders' reader too: native rates resampled onto the epoch grid, labels from the
NSRR XML), z-scores each signal, and stages both nights with the paper-size
model (randomly initialised until a trained checkpoint is given with --model)
through the jit-compiled forward pass, for several signal subsets.
"""

from __future__ import annotations

import pathlib
import time

from absl import flags
import numpy as np

from wav2sleep_jax.core import cli


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_string('workdir', 'runs/smoke', 'Where the synthetic nights go.')
  flags.DEFINE_float('hours', 2.0, 'Length of each synthetic night.')
  flags.DEFINE_string('model', None, 'Optional checkpoint (ours or reference).')


def _read_night(edf_path: pathlib.Path):
  """The night as predict reads it (`input_files.read_input`), z-scored."""
  from wav2sleep_jax.core import signals
  from wav2sleep_jax.data import normalize
  from wav2sleep_jax.psg import input_files

  night = input_files.read_input(edf_path, signals.CARDIORESPIRATORY)
  x = {n: normalize.zscore(v[None])[0] for n, v in night.signals.items()}
  return x, night


def main(argv):
  del argv  # cli.run refuses positional arguments.
  if flags.FLAGS.hours * 120 < 1:
    raise cli.InputError(f'--hours={flags.FLAGS.hours:g} is shorter than one 30-s epoch.')
  if pathlib.Path(flags.FLAGS.workdir).exists() and not pathlib.Path(flags.FLAGS.workdir).is_dir():
    raise NotADirectoryError(f'--workdir {flags.FLAGS.workdir} is a file, not a folder.')
  import jax
  from wav2sleep_jax import synthetic
  from wav2sleep_jax.core import stages
  from wav2sleep_jax.inference import model as model_lib
  from wav2sleep_jax.models import io as model_io
  from wav2sleep_jax.models.config import ModelConfig

  workdir = pathlib.Path(flags.FLAGS.workdir)
  print(f'JAX {jax.__version__} on {jax.devices()[0].platform} '
        f'({jax.device_count()} device(s))')
  if flags.FLAGS.model:
    model = model_lib.load_model(flags.FLAGS.model)
    print(f'Model: {flags.FLAGS.model}')
  else:
    cfg = ModelConfig()
    model = model_lib.StagingModel(cfg, model_io.init_params(cfg, seed=0))
    print('Model: paper-size wav2sleep, RANDOM weights (untrained: stages are not meaningful).')

  nights = []
  for cohort in ('mesa', 'shhs'):
    night = next(
        synthetic.iter_write_cohort(
            cohort, 1, str(workdir / cohort), seed=0, hours=flags.FLAGS.hours))
    edf = next((workdir / cohort).rglob(f'{night.record_id}.edf'))
    x, read = _read_night(edf)
    rates = ', '.join(f'{n} {read.native_rate_hz[n]:g} Hz' for n in x)
    print(f'{cohort}: {night.record_id}, {read.num_epochs} epochs, native rates: {rates}')
    nights.append((cohort, x, read.labels))

  names = stages.stage_names(model.config.num_classes)
  for cohort, x, labels in nights:
    scored = stages.five_to_four(labels) if model.config.num_classes == 4 else labels
    for subset in (tuple(x), ('ECG',), ('THX',), ('PPG',)):
      if not set(subset) <= set(x) or not set(subset) <= set(model.signals):
        continue
      batch = {n: x[n][None] for n in subset}
      start = time.perf_counter()
      model.logits(batch)
      first = time.perf_counter() - start
      start = time.perf_counter()
      pred = model.predict(batch)[0]
      run = time.perf_counter() - start
      valid = scored >= 0
      accuracy = float((pred[valid] == scored[valid]).mean()) if valid.any() else float('nan')
      counts = np.bincount(pred, minlength=len(names))
      share = ' '.join(f'{n} {c / len(pred):.0%}' for n, c in zip(names, counts))
      print(f'  {cohort:5s} {"+".join(subset):16s} compile+run {first:5.1f} s, '
            f'run {run * 1e3:6.0f} ms | predicted: {share} | agreement {accuracy:.2f}')
  print(f'Smoke run OK. Synthetic EDF/XML files are in {workdir}.')


def run():
  """Console script `wav2sleep-smoke`."""
  define_flags()
  cli.run(main, errors=(FileExistsError,))


if __name__ == '__main__':
  run()
