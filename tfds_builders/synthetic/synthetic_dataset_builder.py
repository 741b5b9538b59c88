"""Synthetic nights in an NSRR cohort's layout (see wav2sleep_jax/builders/synthetic_builder.py)."""

from wav2sleep_jax.builders import synthetic_builder

SyntheticConfig = synthetic_builder.SyntheticConfig


class Builder(synthetic_builder.SyntheticBuilder):
  """DatasetBuilder for synthetic nights (no data-use agreement needed)."""
