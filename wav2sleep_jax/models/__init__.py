"""wav2sleep model in Flax NNX (submodules load lazily: `cpu_fast_paths` stays JAX-free)."""

import importlib

_LAZY = {
    'ModelConfig': 'wav2sleep_jax.models.config',
    'Wav2Sleep': 'wav2sleep_jax.models.wav2sleep'
}
__all__ = sorted(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
