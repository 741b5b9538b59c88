"""SHHS (Sleep Heart Health Study), visits shhs1 and shhs2: ECG, THX, ABD (no PPG)."""

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import cohorts


class Builder(nsrr_builder.NsrrBuilder):
  """DatasetBuilder for shhs: one example per night (see nsrr_builder)."""

  COHORT = cohorts.get('shhs')
  MANUAL_DOWNLOAD_INSTRUCTIONS = nsrr_builder.manual_instructions(COHORT)
