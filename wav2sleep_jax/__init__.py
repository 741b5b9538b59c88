"""wav2sleep_jax: multi-modal sleep staging (wav2sleep) in JAX/Flax.

  import wav2sleep_jax
  model = wav2sleep_jax.load_model('checkpoint_dir')
  stages_BS = model.predict({'ECG': ecg_BT, 'THX': thx_BT})
  night = wav2sleep_jax.predict_edf(model, 'night.edf')
  night = wav2sleep_jax.predict_signals(model, {'ECG': (ecg, 256.0)})
  night = wav2sleep_jax.predict_raw(model, mne_raw, channels={'ECG': 'EKG'})

Layout: the modules at the top (train, evaluate, predict, export, convert,
benchmark, synthesize, smoke) are the commands (`python -m wav2sleep_jax.NAME`);
the libraries live in sub-packages: core (shared vocabulary and plumbing),
models, psg (PSG file parsing), data (the JAX input pipeline), training,
evaluation, inference, synthetic, benchmarks, configs.

Heavy submodules (jax, flax) load lazily so that dataset preparation can import
`wav2sleep_jax.psg` without them.
"""

import importlib

__version__ = '0.1.0'

_LAZY = {
    'load_model': 'wav2sleep_jax.inference.model',
    'StagingModel': 'wav2sleep_jax.inference.model',
    'ModelConfig': 'wav2sleep_jax.models.config',
    'Wav2Sleep': 'wav2sleep_jax.models.wav2sleep',
    'predict_signals': 'wav2sleep_jax.inference.runner',
    'predict_edf': 'wav2sleep_jax.inference.runner',
    'predict_raw': 'wav2sleep_jax.inference.mne_input',
    'NightPrediction': 'wav2sleep_jax.inference.night_prediction',
}
__all__ = sorted(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
