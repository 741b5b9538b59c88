"""wav2sleep model in Flax NNX."""

from wav2sleep_jax.models.config import ModelConfig
from wav2sleep_jax.models.wav2sleep import Wav2Sleep

__all__ = ['ModelConfig', 'Wav2Sleep']
