"""The signal table: canonical names, samples per epoch and EDF channel aliases.

The sampling grid (samples per 30-s epoch) comes from `wav2sleep_jax.core.signals`, the
single source of truth shared with the model. This module adds the EDF labels
under which each signal appears in the NSRR cohorts' EDF headers (sleepdata.org), in
lookup order, canonical name first.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Mapping, Sequence

from wav2sleep_jax.core import signals as _grid

EPOCH_SECONDS: int = _grid.EPOCH_SECONDS
SAMPLES_PER_EPOCH: Mapping[str, int] = types.MappingProxyType(dict(_grid.SAMPLES_PER_EPOCH))
SIGNAL_NAMES: tuple[str, ...] = ('ECG', 'PPG', 'ABD', 'THX', 'EOG-L', 'EOG-R')

# Aliases after the canonical name, in lookup order.
DEFAULT_ALIASES: Mapping[str, tuple[str, ...]] = types.MappingProxyType({
    'ECG': ('EKG', 'ECG1', 'ECG L', 'ECGL', 'ECG L-ECG R'),
    'PPG': ('Pleth', 'PlethWV', 'PWF', 'PlethMasimo', 'PletMasimo', 'PlethMasino', 'PLETHMASIMO',
            'plethmasimo', 'Plethmasimo', 'PlethNellcor'),
    'ABD': ('Abdo', 'ABDO RES', 'ABDO EFFORT', 'Abdominal', 'abdomen'),
    'THX': ('Thor', 'THOR RES', 'THOR EFFORT', 'Thoracic', 'Chest', 'CHEST', 'thorax'),
    'EOG-L': ('EOG(L)', 'E1', 'LOC', 'EOGl'),
    'EOG-R': ('EOG(R)', 'E2', 'ROC', 'EOGr'),
})

# The reference's own table (its data/edf.py ALT_COLUMNS), used by 'reference'
# preprocessing: matched exactly (case-sensitive), canonical name first.
REFERENCE_ALIASES: Mapping[str, tuple[str, ...]] = types.MappingProxyType({
    'ECG': ('EKG', 'ECG1', 'ECG L', 'ECGL', 'ECG L-ECG R'),
    'PPG': ('Pleth', 'PlethWV', 'PWF', 'PlethMasimo', 'PletMasimo', 'PlethMasino', 'PLETHMASIMO',
            'plethmasimo', 'Plethmasimo'),
    'ABD': ('Abdo', 'ABDO RES', 'ABDO EFFORT', 'Abdominal', 'abdomen'),
    'THX': ('Thor', 'THOR RES', 'THOR EFFORT', 'Thoracic', 'Chest', 'thorax', 'CHEST'),
    'EOG-L': ('EOG-L', 'EOG(L)', 'E1', 'LOC', 'EOGl'),
    'EOG-R': ('EOG-R', 'EOG(R)', 'E2', 'ROC', 'EOGr'),
})

# Cohort-specific fallbacks, tried after the defaults (pass to `signal_table`).
# The open PhysioNet datasets' labels (their documentation and headers).
COHORT_EXTRA_ALIASES: Mapping[str, Mapping[str, tuple[str, ...]]] = (
    types.MappingProxyType({
        'chat': {
            'ECG': ('ECG2', 'ECG3')
        },
        'cinc2018': {
            'THX': ('CHEST',),
            'EOG-L': ('E1-M2',)
        },
        'hmc': {
            'EOG-L': ('EOG E1-M2',),
            'EOG-R': ('EOG E2-M2',)
        },
        'ucddb': {
            'THX': ('ribcage',),
            'ABD': ('abdo',),
            'EOG-L': ('Lefteye',),
            'EOG-R': ('RightEye',)
        },
        'slpdb': {
            'THX': ('Resp (chest)',),
            'ABD': ('Resp (abdomen)', 'Resp (abdominal)'),
            'EOG-L': ('EOG (left)',),
            'EOG-R': ('EOG (right)',)
        },
    }))


@dataclasses.dataclass(frozen=True)
class SignalSpec:
  """One signal of the model input.

  Attributes:
    name: canonical name, e.g. 'ECG'.
    samples_per_epoch: samples per 30-s epoch after resampling.
    aliases: EDF labels to try, in order; the canonical name comes first.
  """

  name: str
  samples_per_epoch: int
  aliases: tuple[str, ...]

  @property
  def rate_hz(self) -> float:
    """Target sampling rate in Hz (samples_per_epoch / 30 s)."""
    return self.samples_per_epoch / EPOCH_SECONDS


def _unique(names: Sequence[str]) -> tuple[str, ...]:
  """Drops repeated names, keeping the first occurrence."""
  return tuple(dict.fromkeys(names))


def signal_table(
    extra_aliases: Mapping[str, Sequence[str]] | None = None,
    *,
    replace: bool = False,
) -> dict[str, SignalSpec]:
  """Returns the signal table, optionally with per-cohort aliases.

  Args:
    extra_aliases: canonical name -> EDF labels. Appended after the default
      aliases (tried last), or replacing them if `replace`.
    replace: if True, `extra_aliases` replace the defaults of the signals they
      name. The canonical name is always tried first.

  Returns:
    Canonical name -> `SignalSpec`, in `SIGNAL_NAMES` order.

  Raises:
    ValueError: if `extra_aliases` names an unknown signal.
  """
  extra_aliases = dict(extra_aliases or {})
  unknown = sorted(set(extra_aliases) - set(SIGNAL_NAMES))
  if unknown:
    raise ValueError(f'Unknown signals {unknown}; known: {list(SIGNAL_NAMES)}')
  for name, labels in extra_aliases.items():
    if isinstance(labels, str):
      raise ValueError(f'Aliases for {name} must be a sequence of labels, '
                       f'got the string {labels!r}.')
  table = {}
  for name in SIGNAL_NAMES:
    extra = tuple(extra_aliases.get(name, ()))
    defaults = () if (replace and name in extra_aliases) else DEFAULT_ALIASES[name]
    table[name] = SignalSpec(
        name=name,
        samples_per_epoch=SAMPLES_PER_EPOCH[name],
        aliases=_unique((name, *defaults, *extra)),
    )
  return table
