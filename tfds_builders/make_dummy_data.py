r"""Regenerates the builders' `dummy_data/` folders with tiny synthetic nights.

  python -m tfds_builders.make_dummy_data [--builders=shhs,mesa] [--epochs=3]

Each night is a few 30-s epochs written in the cohort's exact NSRR layout
(folders, file names, channel labels, native rates, units, annotation
formats). To keep the folders small, EDFs hold only the model channels
(ECG, PPG, THX, ABD) and SpO2 (an extra channel readers must skip), and nights
are picked among those whose short hypnogram is not sleep/wake-only. The open
datasets (cinc2018, hmc, ucddb, slpdb) are written in their PhysioNet layouts
(WFDB records through the wfdb package, EDF+ scoring files), EOG channels kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Sequence

from absl import app
from absl import flags

from wav2sleep_jax.psg import annotations
from wav2sleep_jax.synthetic import edf_writer
from wav2sleep_jax.synthetic import layouts
from wav2sleep_jax.synthetic import night_generator as night_lib
from wav2sleep_jax.synthetic import writers

_HERE = os.path.dirname(os.path.abspath(__file__))
_KEEP_SOURCES = frozenset({'ECG', 'PPG', 'THX', 'ABD', 'SpO2'})
_OPEN_KEEP = _KEEP_SOURCES | {'EOG-L', 'EOG-R'}
NSRR_BUILDERS = ('shhs', 'mesa', 'cfs', 'chat', 'ccshs', 'mros', 'wsc')
OPEN_BUILDERS = ('cinc2018', 'hmc', 'ucddb', 'slpdb')
BUILDERS = NSRR_BUILDERS + ('census',) + OPEN_BUILDERS

_BUILDERS = flags.DEFINE_list('builders', list(BUILDERS), 'Folders to rebuild.')
_EPOCHS = flags.DEFINE_integer('epochs', 3, 'Epochs per night.')


def _night(cohort: str, index: int, epochs: int, visit: str | None = None) -> night_lib.Night:
  night = night_lib.generate_night(
      cohort, seed=0, night_index=index, hours=epochs / 120, visit=visit)
  keep = _OPEN_KEEP if cohort in OPEN_BUILDERS else _KEEP_SOURCES
  kept = {k: c for k, c in night.channels.items() if c.source in keep}
  return dataclasses.replace(night, channels=kept)


def _good_indices(cohort: str, count: int, epochs: int,
                  visits: Sequence[str | None] = (None,)) -> list[int]:
  """First `count` participants whose nights (all `visits`) are usable."""
  found = []
  for index in range(1000):
    if all(not annotations.is_sleep_wake_only(_night(cohort, index, epochs, v).labels)
           for v in visits):
      found.append(index)
      if len(found) == count:
        return found
  raise RuntimeError(f'Not enough usable short {cohort} nights.')


def _write(night: night_lib.Night,
           root: str,
           record_id: str | None = None,
           subdir: str | None = None) -> dict[str, str]:
  """Writes a night; `record_id`/`subdir` rename it (e.g. CHAT non-randomized)."""
  if record_id is None:
    return writers.write_night(night, root)
  night = dataclasses.replace(night, record_id=record_id)
  edf = os.path.join(root, 'polysomnography', 'edfs', subdir, f'{record_id}.edf')
  xml = os.path.join(root, 'polysomnography', 'annotations-events-nsrr', subdir,
                     f'{record_id}-nsrr.xml')
  edf_writer.write_edf(edf, night)
  os.makedirs(os.path.dirname(xml), exist_ok=True)
  with open(xml, 'w', encoding='utf-8') as f:
    f.write(writers.nsrr_xml(night))
  return {'edf': edf, 'nsrr_xml': xml}


def write_cohort_dummy(cohort: str, root: str, epochs: int, participants: int = 3) -> list[str]:
  """Writes the dummy nights of one cohort under `root`; returns record ids.

  Three participants by default, with the cohort's layout quirks: a second
  visit (SHHS, MrOS, CHAT), a CHAT non-randomized night, a WSC night scored
  only in `.allscore.txt`.
  """
  spec = layouts.COHORTS[cohort]
  written = []
  if cohort in ('shhs', 'mros'):  # Two visits of the first participant.
    first, *rest = _good_indices(cohort, 3, epochs, spec.visits[:2])
    plan = [(first, spec.visits[0]), (first, spec.visits[1])]
    plan += [(i, spec.visits[0]) for i in rest]
  elif cohort == 'chat':  # Baseline + follow-up, and one non-randomized.
    first, second, third = _good_indices(cohort, 3, epochs, spec.visits[:2])
    plan = [(first, 'baseline'), (first, 'followup'), (second, 'baseline')]
    night = _night(cohort, third, epochs, 'baseline')
    rid = f'chat-baseline-nonrandomized-{spec.first_participant + third}'
    _write(night, root, rid, 'nonrandomized')
    written.append(rid)
  else:
    plan = [(i, None) for i in _good_indices(cohort, participants, epochs)]
  for index, visit in plan:
    night = _night(cohort, index, epochs, visit)
    paths = _write(night, root)
    written.append(night.record_id)
    if cohort == 'wsc' and len(written) == 2:  # Stages from .allscore only.
      for kind in ('stg', 'log'):
        os.remove(paths[kind])
  return written


def write_open_dummy(cohort: str, root: str, epochs: int) -> list[str]:
  """Three records of an open dataset; slpdb: slp01a + slp01b (one subject), slp02, slp03."""
  names = ('slp01a', 'slp01b', 'slp02', 'slp03') if cohort == 'slpdb' else (None,) * 3
  written = []
  for index, name in zip(_good_indices(cohort, len(names), epochs), names):
    night = _night(cohort, index, epochs)
    if name is not None:
      night = dataclasses.replace(night, record_id=name)
    writers.write_night(night, root)
    written.append(night.record_id)
  return written


def write_census_dummy(root: str, epochs: int) -> dict[str, list[str]]:
  """Census dummy: three cohorts side by side and census split lists."""
  ids = {
      name: write_cohort_dummy(name, os.path.join(root, name), epochs, count)
      for name, count in (('mesa', 2), ('cfs', 1), ('wsc', 1))
  }
  lists = {
      'val': [ids['mesa'][0], ids['cfs'][0]],
      'test': [ids['mesa'][1], ids['wsc'][0], 'ccshs-trec-1800999']
  }  # Listed, not present: reported.
  folder = os.path.join(root, 'splits', 'census')
  os.makedirs(folder, exist_ok=True)
  for split, rids in lists.items():
    with open(os.path.join(folder, f'{split}.txt'), 'w', encoding='utf-8') as f:
      f.write('\n'.join(rids) + '\n')
  return lists


def main(argv: Sequence[str]) -> None:
  del argv
  for name in _BUILDERS.value:
    root = os.path.join(_HERE, name, 'dummy_data')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    if name == 'census':
      result = write_census_dummy(root, _EPOCHS.value)
    elif name in OPEN_BUILDERS:
      result = write_open_dummy(name, root, _EPOCHS.value)
    else:
      result = write_cohort_dummy(name, root, _EPOCHS.value)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)
    print(f'{name}: {result} ({size / 1e3:.0f} kB)')


if __name__ == '__main__':
  app.run(main)
