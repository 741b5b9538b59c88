"""wav2sleep_jax: multi-modal sleep staging (wav2sleep) in JAX/Flax.

  import wav2sleep_jax
  model = wav2sleep_jax.load_model('checkpoint_dir')
  stages_BS = model.predict({'ECG': ecg_BT, 'THX': thx_BT})
  night = wav2sleep_jax.predict_edf(model, 'night.edf')  # or predict(model, {'ECG': (ecg, 256.0)})

Heavy submodules (jax, flax) load lazily so that dataset preparation can import
`wav2sleep_jax.data` without them.
"""

import importlib

__version__ = '0.1.0'

_LAZY = {
    'load_model': 'wav2sleep_jax.inference',
    'StagingModel': 'wav2sleep_jax.inference',
    'ModelConfig': 'wav2sleep_jax.models.config',
    'Wav2Sleep': 'wav2sleep_jax.models.wav2sleep',
    'predict': 'wav2sleep_jax.prediction',
    'predict_edf': 'wav2sleep_jax.prediction',
    'NightPrediction': 'wav2sleep_jax.prediction',
}
__all__ = sorted(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
