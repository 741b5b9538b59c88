"""WSC (Wisconsin Sleep Cohort): ECG, THX, ABD (no PPG); stages from .stg.txt or .allscore.txt."""

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import cohorts


class Builder(nsrr_builder.NsrrBuilder):
  """DatasetBuilder for wsc: one example per night (see nsrr_builder)."""

  COHORT = cohorts.get('wsc')
  MANUAL_DOWNLOAD_INSTRUCTIONS = nsrr_builder.manual_instructions(COHORT)
