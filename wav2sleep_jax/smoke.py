"""End-to-end smoke run on the embedded default (no downloads needed).

  python -m wav2sleep_jax.smoke [--workdir=runs/smoke] [--hours=2]

Writes one synthetic MESA-like night (real EDF + NSRR XML) and one SHHS-like
night (no PPG), reads them back with the PSG parsing library at native rates,
resamples and z-scores each signal, and stages both nights with the paper-size
model (randomly initialised until a trained checkpoint is given with --model)
through the jit-compiled forward pass, for several signal subsets.
"""

from __future__ import annotations

import pathlib
import time

from absl import app
from absl import flags
import numpy as np

from wav2sleep_jax.core import cli

_WORKDIR = flags.DEFINE_string('workdir', 'runs/smoke', 'Where the synthetic nights go.')
_HOURS = flags.DEFINE_float('hours', 2.0, 'Length of each synthetic night.')
_MODEL = flags.DEFINE_string('model', None, 'Optional checkpoint (ours or reference).')


def _read_night(edf_path: pathlib.Path, xml_path: pathlib.Path, num_epochs: int):
  from wav2sleep_jax import psg
  from wav2sleep_jax.core import signals
  from wav2sleep_jax.data import normalize

  recording = psg.read_recording(edf_path, signals.CARDIORESPIRATORY)
  labels = psg.align_labels(psg.read_nsrr_xml(xml_path).labels, num_epochs)
  x = {}
  for name in signals.CARDIORESPIRATORY:
    if name in recording.channels:
      ch = recording.channels[name]
      resampled = psg.resample_to_epochs(ch.data, ch.rate_hz, signals.samples_per_epoch(name),
                                         max_epochs=num_epochs)
      x[name] = normalize.zscore(resampled[None])[0]
  return x, labels, recording


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if _HOURS.value * 120 < 1:
    raise cli.InputError(f'--hours={_HOURS.value:g} is shorter than one 30-s epoch.')
  if pathlib.Path(_WORKDIR.value).exists() and not pathlib.Path(_WORKDIR.value).is_dir():
    raise NotADirectoryError(f'--workdir {_WORKDIR.value} is a file, not a folder.')
  import jax
  from wav2sleep_jax import synthetic
  from wav2sleep_jax.core import signals
  from wav2sleep_jax.core import stages
  from wav2sleep_jax.inference import model as model_lib
  from wav2sleep_jax.models import io as model_io
  from wav2sleep_jax.models.config import ModelConfig

  workdir = pathlib.Path(_WORKDIR.value)
  print(f'JAX {jax.__version__} on {jax.devices()[0].platform} '
        f'({jax.device_count()} device(s))')
  if _MODEL.value:
    model = model_lib.load_model(_MODEL.value)
    print(f'Model: {_MODEL.value}')
  else:
    cfg = ModelConfig()
    model = model_lib.StagingModel(cfg, model_io.init_params(cfg, seed=0))
    print('Model: paper-size wav2sleep, RANDOM weights (untrained: stages are not meaningful).')

  nights = []
  for cohort in ('mesa', 'shhs'):
    night = next(synthetic.iter_write_cohort(cohort, 1, str(workdir / cohort), seed=0,
                                             hours=_HOURS.value))
    edf = next((workdir / cohort).rglob(f'{night.record_id}.edf'))
    xml = next((workdir / cohort).rglob(f'{night.record_id}-nsrr.xml'))
    num_epochs = int(round(night.duration_s)) // signals.EPOCH_SECONDS
    x, labels, recording = _read_night(edf, xml, num_epochs)
    rates = ', '.join(f'{n} {recording.channels[n].rate_hz:g} Hz' for n in x)
    print(f'{cohort}: {night.record_id}, {num_epochs} epochs, native rates: {rates}')
    nights.append((cohort, x, labels))

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
  cli.run(main, errors=(FileExistsError,))


if __name__ == '__main__':
  run()
