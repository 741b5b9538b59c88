"""Facts about the NSRR cohorts that dataset builders need.

Folder layout, the model signals each cohort's EDFs can hold, cohort-specific
channel labels and the paper's split sizes (wav2sleep paper, Carter & Tarassenko,
ML4H 2024, Table 1). Layouts are those of the NSRR download tool (sleepdata.org).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Mapping

from wav2sleep_jax.psg import channels as channels_lib

# EDFs under `polysomnography/edfs/[<visit>/]`, NSRR XML under
# `polysomnography/annotations-events-nsrr/[<visit>/]<id>-nsrr.xml`.
NSRR_LAYOUT = 'nsrr'
# `**/<id>.edf` with sibling `<id>.stg.txt` / `<id>.allscore.txt` / `<id>.log.txt`.
WSC_LAYOUT = 'wsc'

_ALL = channels_lib.SIGNAL_NAMES
_NO_PPG = tuple(s for s in _ALL if s != 'PPG')


@dataclasses.dataclass(frozen=True)
class Cohort:
  """One NSRR cohort.

  Attributes:
    name: cohort name, also the record id prefix ('shhs', 'mesa', ...).
    layout: `NSRR_LAYOUT` or `WSC_LAYOUT`.
    signals: canonical signals its EDFs can hold; others are absent without
      a report entry.
    split_sizes: nights (train, validation, test) in the paper; the deterministic
      split uses them as proportions.
    extra_aliases: channel labels tried after the default aliases.
    homepage: NSRR page of the cohort.
  """

  name: str
  layout: str
  signals: tuple[str, ...]
  split_sizes: tuple[int, int, int]
  extra_aliases: Mapping[str, tuple[str, ...]] = dataclasses.field(
      default_factory=dict)
  homepage: str = ''


def _nsrr(name: str) -> str:
  return f'https://sleepdata.org/datasets/{name}'


COHORTS: Mapping[str, Cohort] = types.MappingProxyType({c.name: c for c in (
    Cohort('shhs', NSRR_LAYOUT, _NO_PPG, (6441, 500, 1000),
           homepage=_nsrr('shhs')),
    Cohort('mesa', NSRR_LAYOUT, _ALL, (1541, 100, 200), homepage=_nsrr('mesa')),
    Cohort('wsc', WSC_LAYOUT, _NO_PPG, (1380, 250, 500), homepage=_nsrr('wsc')),
    Cohort('chat', NSRR_LAYOUT, _ALL, (1132, 100, 200),
           extra_aliases=channels_lib.COHORT_EXTRA_ALIASES['chat'],
           homepage=_nsrr('chat')),
    Cohort('cfs', NSRR_LAYOUT, _ALL, (452, 50, 100), homepage=_nsrr('cfs')),
    Cohort('ccshs', NSRR_LAYOUT, _ALL, (272, 50, 100), homepage=_nsrr('ccshs')),
    Cohort('mros', NSRR_LAYOUT, _NO_PPG, (0, 0, 1000), homepage=_nsrr('mros')),
)})

# Cohorts the census-balanced val/test sets draw from (Jones et al. 2024).
CENSUS_COHORTS = ('ccshs', 'cfs', 'chat', 'mesa', 'wsc')


def get(name: str) -> Cohort:
  """Looks up a cohort by name (ValueError listing the known ones)."""
  try:
    return COHORTS[name]
  except KeyError:
    raise ValueError(
        f'Unknown cohort {name!r}; known: {sorted(COHORTS)}') from None


def cohort_of(record_id: str) -> str:
  """Cohort name of a record id: 'chat-baseline-300001' -> 'chat', 'shhs2-1' -> 'shhs'."""
  return record_id.split('-', 1)[0].strip().lower().rstrip('0123456789')
