"""CHAT (Childhood Adenotonsillectomy Trial): ECG, PPG, THX, ABD.

Baseline, follow-up and non-randomized nights (`edfs/{baseline,followup,nonrandomized}/`).
"""

from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.psg import cohorts


class Builder(nsrr_builder.NsrrBuilder):
  """DatasetBuilder for chat: one example per night (see nsrr_builder)."""

  COHORT = cohorts.get('chat')
  MANUAL_DOWNLOAD_INSTRUCTIONS = nsrr_builder.manual_instructions(COHORT)
