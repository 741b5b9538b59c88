"""Sleep stage classes: 5-class AASM labels and the 4-class grouping.

The one home of stage integers and names: 0 Wake, 1 N1, 2 N2, 3 N3, 4 REM (5 classes);
0 Wake, 1 Light (N1+N2), 2 Deep (N3), 3 REM (4 classes); -1 unscored in both.
"""

from __future__ import annotations

import numpy as np

UNSCORED = -1
WAKE, N1, N2, N3, REM = 0, 1, 2, 3, 4  # 5-class labels.
STAGES_5 = ('Wake', 'N1', 'N2', 'N3', 'REM')
STAGES_4 = ('Wake', 'Light', 'Deep', 'REM')

# 5-class label -> 4-class label (N1 and N2 are both Light sleep).
_FIVE_TO_FOUR = np.array([0, 1, 1, 2, 3], dtype=np.int8)


def stage_names(num_classes: int) -> tuple[str, ...]:
  if num_classes == 4:
    return STAGES_4
  if num_classes == 5:
    return STAGES_5
  raise ValueError(f'No stage names for {num_classes} classes (expected 4 or 5).')


def five_to_four(labels: np.ndarray) -> np.ndarray:
  """Map 5-class labels to 4 classes, keeping -1 (unscored) as -1."""
  labels = np.asarray(labels)
  out = np.full(labels.shape, UNSCORED, dtype=np.int8)
  scored = labels >= 0
  out[scored] = _FIVE_TO_FOUR[labels[scored]]
  return out


def runs(values) -> list[tuple[int, int, int]]:
  """(first index, length, value) of each run of equal values in a 1-D array (stages, codes)."""
  values = np.asarray(values)
  if not len(values):
    return []
  change = np.flatnonzero(values[1:] != values[:-1]) + 1
  starts = np.concatenate([[0], change])
  ends = np.concatenate([change, [len(values)]])
  return [(int(s), int(e - s), int(values[s])) for s, e in zip(starts, ends)]
