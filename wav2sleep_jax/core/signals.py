"""The signals wav2sleep understands and their sampling grid.

Every signal is resampled to a fixed number of samples per 30-s epoch, so a night of
S epochs is a vector of S * samples_per_epoch values. Signals that share a rate have
identical encoder input shapes, which lets the model run them as one stacked (vmapped)
encoder.
"""

from __future__ import annotations

EPOCH_SECONDS = 30

# Canonical signal name -> samples per 30-s epoch (wav2sleep paper).
SAMPLES_PER_EPOCH: dict[str, int] = {
    'ECG': 1024,
    'PPG': 1024,
    'ABD': 256,
    'THX': 256,
    'EOG-L': 4096,
    'EOG-R': 4096,
}

CARDIORESPIRATORY = ('ECG', 'PPG', 'ABD', 'THX')
EOG = ('EOG-L', 'EOG-R')


def samples_per_epoch(name: str) -> int:
  """Samples per 30-s epoch for a canonical signal name (ValueError if unknown)."""
  try:
    return SAMPLES_PER_EPOCH[name]
  except KeyError:
    raise ValueError(
        f'Unknown signal {name!r}; known signals: {sorted(SAMPLES_PER_EPOCH)}') from None


def feature_key(name: str) -> str:
  """Key of a canonical signal name in stored records and batches: 'EOG-L' -> 'EOG_L'."""
  return name.replace('-', '_')


def sample_rate_hz(name: str) -> float:
  """Sampling rate (Hz) the model expects for a canonical signal name."""
  return samples_per_epoch(name) / EPOCH_SECONDS
