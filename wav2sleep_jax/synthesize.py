r"""Writes synthetic PSG nights in a cohort's NSRR layout (EDF + annotations).

  python -m wav2sleep_jax.synthesize --cohort=mesa --nights=8 --output=/tmp/mesa [--seed=0] \
      [--hours=1.0] [--visits=sleep]

Deterministic per (cohort, seed, night index, visit). Without --hours, each night's length is
drawn from the cohort's population (about 8-10 h).
"""

import collections
import os
import time

from absl import flags
import tqdm

from wav2sleep_jax import synthetic
from wav2sleep_jax.core import cli
from wav2sleep_jax.core import stages as stages_lib


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  flags.DEFINE_enum('cohort', None, sorted(synthetic.COHORTS), 'Cohort layout to write.')
  flags.DEFINE_integer('nights', 4, 'Number of participants to generate.', lower_bound=1)
  flags.DEFINE_string('output', None, 'Root folder (the cohort folder of an NSRR download).')
  flags.DEFINE_integer('seed', 0, 'Global seed.')
  flags.DEFINE_float('hours', None, 'Recording length in hours (default: drawn per night).')
  flags.DEFINE_float('stage_contrast', 1.0,
                     'Strength of stage signatures (1 = realistic; > 1 easier to stage).')
  flags.DEFINE_list('visits', None, 'Visits to write per participant (default: first).')
  flags.mark_flags_as_required(['cohort', 'output'])


def main(argv):
  del argv  # cli.run refuses positional arguments.
  if os.path.exists(flags.FLAGS.output) and not os.path.isdir(flags.FLAGS.output):
    raise NotADirectoryError(f'Output {flags.FLAGS.output} is a file, not a folder.')
  start = time.time()
  spec = synthetic.COHORTS[flags.FLAGS.cohort]
  visits = flags.FLAGS.visits or list(spec.visits[:1])
  total = flags.FLAGS.nights * len(visits)
  stages = collections.Counter()
  hours = 0.0
  nights = synthetic.iter_write_cohort(
      spec,
      flags.FLAGS.nights,
      flags.FLAGS.output,
      seed=flags.FLAGS.seed,
      hours=flags.FLAGS.hours,
      visits=visits,
      stage_contrast=flags.FLAGS.stage_contrast)
  for night in tqdm.tqdm(nights, total=total, desc=f'{spec.name} nights', unit='night'):
    stages.update(night.labels.tolist())
    hours += night.duration_s / 3600.0
  scored = sum(v for k, v in stages.items() if k >= 0)
  mix = ' '.join(f'{name} {100.0 * stages[i] / max(scored, 1):.0f}%'
                 for i, name in enumerate(stages_lib.STAGES_5))
  print(f'Wrote {total} {spec.name} nights ({hours:.1f} h; {mix}) to {flags.FLAGS.output} '
        f'in {time.time() - start:.1f} s.')


def run():
  """Console script `wav2sleep-synthesize`."""
  define_flags()
  cli.run(main, errors=(FileExistsError,))


if __name__ == '__main__':
  run()
