"""The stage codes a generated night's scorer writes (NSRR numbering), and their texts.

NSRR codes: 0 W, 1-3 stages 1-3, 4 R&K stage 4 (R&K cohorts only), 5 REM, 9 unscored.
The 5-class labels of `core.stages` map to codes by `CODE_OF_LABEL`; each format's
writer spells the codes with `AASM_LETTERS` (stage 4 is N3) or its own R&K tokens.
"""

from __future__ import annotations

import numpy as np

from wav2sleep_jax.core import stages

RK_STAGE4_CODE, UNSCORED_CODE = 4, 9
# 5-class label -> NSRR code, indexed by label.
CODE_OF_LABEL = np.zeros(len(stages.STAGES_5), np.int8)
CODE_OF_LABEL[[stages.WAKE, stages.N1, stages.N2, stages.N3, stages.REM]] = [0, 1, 2, 3, 5]
# NSRR code -> AASM letter (W, N1, N2, N3, R).
AASM_LETTERS = {0: 'W', 1: 'N1', 2: 'N2', 3: 'N3', RK_STAGE4_CODE: 'N3', 5: 'R'}
# NSRR code -> NSRR XML EventConcept.
NSRR_CONCEPTS = {
    0: 'Wake|0',
    1: 'Stage 1 sleep|1',
    2: 'Stage 2 sleep|2',
    3: 'Stage 3 sleep|3',
    RK_STAGE4_CODE: 'Stage 4 sleep|4',
    5: 'REM sleep|5',
    UNSCORED_CODE: 'Unscored|9'
}


def aasm_texts(unscored: str) -> dict[int, str]:
  """NSRR code -> AASM letter, with a format's own text for unscored epochs."""
  return {**AASM_LETTERS, UNSCORED_CODE: unscored}
