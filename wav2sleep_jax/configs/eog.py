"""5-class EOG model (EOG-L + EOG-R), the reference's published EOG checkpoint setup.

  python -m wav2sleep_jax.train --config=wav2sleep_jax/configs/eog.py --workdir=runs/eog

Variants (config argument): '' or 'causal'.
"""

from __future__ import annotations

import ml_collections

from wav2sleep_jax.configs import common
from wav2sleep_jax.core import signals as signals_lib

VARIANTS = ('', 'causal')


def get_config(variant: str | None = None):
  variant = common.check_variant(variant, VARIANTS)
  c = common.base_config()
  c.model = common.model_config(
      **common.PAPER_MODEL_OVERRIDES,
      signals=signals_lib.EOG,
      num_classes=5,
      causal=variant == 'causal')
  c.mask_probs = ml_collections.ConfigDict({'EOG-L': 0.5, 'EOG-R': 0.5})
  c.backup_signals = signals_lib.EOG
  c.eval_subsets = ((), ('EOG-L',), ('EOG-R',))
  c.lock()
  return c
