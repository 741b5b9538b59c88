"""Split lists and the deterministic split by participant."""

import collections

import pytest

from tests import conftest
from wav2sleep_jax.psg import cohorts
from wav2sleep_jax.psg import splits


@pytest.mark.parametrize('record_id, participant', [
    ('shhs1-200001', 'shhs:200001'),
    ('shhs2-200001', 'shhs:200001'),
    ('mros-visit2-aa0001', 'mros:aa0001'),
    ('mesa-sleep-0002', 'mesa:0002'),
    ('chat-baseline-nonrandomized-300006', 'chat:300006'),
    ('chat-followup-300006', 'chat:300006'),
    ('wsc-visit3-10119-nsrr', 'wsc:10119'),
    ('cfs-visit5-800010', 'cfs:800010'),
])
def test_participant_id(record_id, participant):
  assert splits.participant_id(record_id) == participant


@pytest.mark.parametrize('n, sizes, expected', [
    (1000, (6441, 500, 1000), [811, 63, 126]),
    (3, (6441, 500, 1000), [1, 1, 1]),
    (2, (6441, 500, 1000), [2, 0, 0]),
    (5, (0, 0, 1000), [0, 0, 5]),
    (0, (1, 1, 1), [0, 0, 0]),
])
def test_apportion(n, sizes, expected):
  assert splits.apportion(n, sizes) == expected


def test_assign_splits_keeps_participants_together_and_proportions():
  ids = [f'shhs{v}-{200001 + i}' for i in range(2000) for v in (1, 2) if v == 1 or i % 3 == 0]
  out = splits.assign_splits(ids, cohorts.get('shhs').split_sizes, salt='shhs')
  assert sorted(r for s in out.values() for r in s) == sorted(ids)
  where = {}
  for split, members in out.items():
    for rid in members:
      where.setdefault(splits.participant_id(rid), set()).add(split)
  assert all(len(s) == 1 for s in where.values())
  participants = collections.Counter(next(iter(s)) for s in where.values())
  assert participants == {'train': 1622, 'validation': 126, 'test': 252}
  # Deterministic and independent of the input order.
  assert splits.assign_splits(ids[::-1], cohorts.get('shhs').split_sizes, salt='shhs') == out
  assert splits.assign_splits(ids, (0, 0, 1))['test'] == tuple(sorted(ids))


def test_read_split_lists_rejects_repeats(tmp_path):
  folder = tmp_path / 'mesa'
  folder.mkdir()
  (folder / 'train.txt').write_text('mesa-sleep-0001\n# comment\n\nmesa-sleep-0002\n')
  (folder / 'test.txt').write_text('mesa-sleep-0003\n')
  assert splits.read_split_lists(tmp_path, 'mesa') == {
      'train': ('mesa-sleep-0001', 'mesa-sleep-0002'),
      'test': ('mesa-sleep-0003',)
  }
  assert splits.read_split_lists(folder, 'mesa')['test'] == ('mesa-sleep-0003',)
  (folder / 'val.txt').write_text('mesa-sleep-0001\n')
  with pytest.raises(
      ValueError, match='mesa-sleep-0001 is listed in train.txt and again in val.txt'):
    splits.read_split_lists(tmp_path, 'mesa')
  with pytest.raises(FileNotFoundError, match='No split lists for cfs'):
    splits.read_split_lists(tmp_path, 'cfs')


def test_plan_splits_reports_missing_and_unlisted(tmp_path):
  (tmp_path / 'cfs').mkdir()
  (tmp_path / 'cfs' / 'train.txt').write_text('cfs-visit5-1\ncfs-visit5-2\n')
  (tmp_path / 'cfs' / 'test.txt').write_text('cfs-visit5-3\n')
  plan = splits.plan_splits(['cfs-visit5-1', 'cfs-visit5-3', 'cfs-visit5-9'],
                            'cfs',
                            split_dir=tmp_path)
  assert plan.splits == {'train': ('cfs-visit5-1',), 'test': ('cfs-visit5-3',)}
  assert plan.missing == {'train': ('cfs-visit5-2',), 'test': ()}
  assert plan.unlisted == ('cfs-visit5-9',)


_PAPER_COUNTS = {
    c.name: c.split_sizes for c in cohorts.COHORTS.values() if c.name not in cohorts.OPEN_COHORTS
}  # Open data: no paper lists.


@pytest.mark.parametrize('cohort', sorted(_PAPER_COUNTS) + ['census'])
def test_shared_split_lists(cohort):
  split_dir = conftest.require_shared('data', 'splits')
  lists = splits.read_split_lists(split_dir, cohort)
  for rid in (r for ids in lists.values() for r in ids):
    assert cohorts.cohort_of(rid) in (cohorts.CENSUS_COHORTS if cohort == 'census' else (cohort,))
  if cohort == 'census':
    assert {s: len(v) for s, v in lists.items()} == {'validation': 500, 'test': 500}
  else:
    counts = tuple(len(lists.get(s, ())) for s in splits.SPLITS)
    assert counts == _PAPER_COUNTS[cohort]
