"""Train/validation/test splits of a cohort: split lists, or by participant.

Split lists are text files with one record id per line, in a folder per
cohort: `<split_dir>/<cohort>/{train,val,test}.txt` (the census set has only
`val` and `test`); `val.txt` is the TFDS split 'validation'. Without lists, nights are split deterministically by
PARTICIPANT, so all visits of one participant (e.g. `shhs1-200001` and
`shhs2-200001`) land in the same split, in the paper's proportions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Iterable, Mapping, Sequence

from wav2sleep_jax.psg import cohorts as cohorts_lib

SPLITS = ('train', 'validation', 'test')
# Split-list file names, preferred first.
_FILES = {
    'train': ('train.txt',),
    'validation': ('val.txt', 'validation.txt'),
    'test': ('test.txt',)
}


def list_file_name(split: str) -> str:
  """Split-list file of a TFDS split: 'validation' -> 'val.txt'."""
  return _FILES[split][0]


def _list_file(folder: str, split: str) -> str | None:
  for name in _FILES[split]:
    path = os.path.join(folder, name)
    if os.path.isfile(path):
      return path
  return None


def participant_id(record_id: str) -> str:
  """Participant of a night: 'shhs2-200001' -> 'shhs:200001'.

  The participant is the last dash-separated token of the record id (after
  dropping a trailing '-nsrr'): 'mros-visit1-aa0001' -> 'mros:aa0001',
  'chat-baseline-nonrandomized-300006' -> 'chat:300006',
  'wsc-visit2-10119-nsrr' -> 'wsc:10119'. Open datasets use their cohort's
  `participant_pattern`: 'slpdb-slp01b' -> 'slpdb:slp01'.
  """
  rid = record_id.strip()
  cohort = cohorts_lib.COHORTS.get(cohorts_lib.cohort_of(rid))
  if cohort is not None and cohort.participant_pattern:
    match = re.fullmatch(cohort.participant_pattern, rid)
    if match:
      return f'{cohort.name}:{match.group(1)}'
  rid = rid[:-len('-nsrr')] if rid.endswith('-nsrr') else rid
  return f'{cohorts_lib.cohort_of(rid)}:{rid.rsplit("-", 1)[-1]}'


def cohort_split_dir(split_dir: str | os.PathLike[str], cohort: str) -> str:
  """`split_dir/<cohort>` if it exists, else `split_dir` if it holds lists."""
  split_dir = os.fspath(split_dir)
  nested = os.path.join(split_dir, cohort)
  if os.path.isdir(nested):
    return nested
  if any(_list_file(split_dir, s) for s in SPLITS):
    return split_dir
  raise FileNotFoundError(f'No split lists for {cohort}: expected {nested}/{{train,val,test}}.txt')


def read_split_lists(split_dir: str | os.PathLike[str], cohort: str) -> dict[str, tuple[str, ...]]:
  """Reads `<split_dir>/<cohort>/{train,val,test}.txt` (those that exist).

  Blank lines and lines starting with '#' are ignored.

  Raises:
    FileNotFoundError: no list for the cohort.
    ValueError: a record id listed twice (in one split or in two).
  """
  folder = cohort_split_dir(split_dir, cohort)
  lists: dict[str, tuple[str, ...]] = {}
  seen: dict[str, str] = {}
  for split in SPLITS:
    path = _list_file(folder, split)
    if path is None:
      continue
    with open(path, encoding='utf-8') as f:
      ids = [line.strip() for line in f]
    ids = [i for i in ids if i and not i.startswith('#')]
    for rid in ids:
      if rid in seen:
        raise ValueError(f'{rid} is listed in {seen[rid]} and again in '
                         f'{os.path.basename(path)} ({folder})')
      seen[rid] = os.path.basename(path)
    lists[split] = tuple(ids)
  if not lists:
    raise FileNotFoundError(f'No {{train,val,test}}.txt in {folder}')
  return lists


def apportion(n: int, sizes: Sequence[float]) -> list[int]:
  """Splits `n` items in proportion to `sizes` (largest remainder).

  Every split with a non-zero size gets at least one item when `n` allows.
  """
  total = float(sum(sizes))
  if total <= 0 or any(s < 0 for s in sizes):
    raise ValueError(f'Split sizes must be >= 0 with a positive sum: {sizes}')
  quotas = [n * s / total for s in sizes]
  counts = [int(q) for q in quotas]
  by_remainder = sorted(range(len(sizes)), key=lambda i: counts[i] - quotas[i])
  for i in by_remainder[:n - sum(counts)]:
    counts[i] += 1
  nonzero = [i for i, s in enumerate(sizes) if s > 0]
  if n >= len(nonzero):
    for i in nonzero:
      if counts[i] == 0:
        donor = max(nonzero, key=lambda j: counts[j])
        counts[donor] -= 1
        counts[i] += 1
  return counts


def _rank(participant: str, salt: str) -> str:
  return hashlib.sha256(f'{salt}:{participant}'.encode()).hexdigest()


def assign_splits(record_ids: Iterable[str],
                  sizes: Sequence[float],
                  salt: str = '') -> dict[str, tuple[str, ...]]:
  """Deterministic split by participant in proportion to `sizes`.

  Participants are ordered by a hash of (salt, participant id) and cut into
  consecutive blocks of `apportion(num_participants, sizes)`; each night goes
  where its participant goes. Independent of the input order.

  Args:
    record_ids: nights to split.
    sizes: relative sizes of (train, validation, test).
    salt: changes the (still deterministic) assignment.

  Returns:
    split -> sorted record ids, for every split with a non-zero size.
  """
  if len(sizes) != len(SPLITS):
    raise ValueError(f'sizes must give {SPLITS}, got {sizes}')
  by_participant: dict[str, list[str]] = {}
  for rid in sorted(set(record_ids)):
    by_participant.setdefault(participant_id(rid), []).append(rid)
  order = sorted(by_participant, key=lambda p: _rank(p, salt))
  counts = apportion(len(order), sizes)
  out, start = {}, 0
  for split, size, count in zip(SPLITS, sizes, counts):
    members = order[start:start + count]
    start += count
    if size > 0:
      out[split] = tuple(sorted(r for p in members for r in by_participant[p]))
  return out


@dataclasses.dataclass(frozen=True)
class SplitPlan:
  """Which of the found nights go to which split.

  Attributes:
    splits: split -> record ids found in the manual dir.
    missing: split -> record ids listed but not found.
    unlisted: record ids found but in no split list.
    source: where the assignment came from (for logs).
  """

  splits: Mapping[str, tuple[str, ...]]
  missing: Mapping[str, tuple[str, ...]]
  unlisted: tuple[str, ...]
  source: str


def plan_splits(record_ids: Iterable[str],
                cohort: str,
                *,
                split_dir: str | os.PathLike[str] | None = None,
                sizes: Sequence[float] | None = None) -> SplitPlan:
  """Assigns found nights to splits, from lists in `split_dir` or by participant.

  Args:
    record_ids: nights present in the manual dir.
    cohort: cohort name (the split-list folder, the hash salt).
    split_dir: folder of split lists; None for the deterministic split.
    sizes: (train, validation, test) proportions; default the paper's.
  """
  found = sorted(set(record_ids))
  if split_dir is not None:
    lists = read_split_lists(split_dir, cohort)
    present = set(found)
    listed = {rid for ids in lists.values() for rid in ids}
    return SplitPlan(
        splits={
            s: tuple(sorted(present.intersection(ids))) for s, ids in lists.items()
        },
        missing={
            s: tuple(sorted(set(ids) - present)) for s, ids in lists.items()
        },
        unlisted=tuple(r for r in found if r not in listed),
        source=f'split lists in {cohort_split_dir(split_dir, cohort)}')
  sizes = sizes or cohorts_lib.get(cohort).split_sizes
  return SplitPlan(
      splits=assign_splits(found, sizes, salt=cohort),
      missing={},
      unlisted=(),
      source=f'deterministic split by participant, '
      f'proportions {tuple(sizes)}')
