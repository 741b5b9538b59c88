"""Generate and build the demo's synthetic cohorts (no downloads needed).

Runs the TF-free TFDS build (`python -m tfds_builders.build synthetic`) in
subprocesses, one per cohort and in parallel, so that the training process
never imports the builders or their dependencies. Cohorts already built
under the data dir are reused.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time

from absl import logging


def built(data_dir: pathlib.Path, name: str) -> bool:
  return any((data_dir / 'synthetic' / name).glob('*/dataset_info.json'))


def _last_line(path: str) -> str:
  """The build's last log line: its error, or the summary of a partial build."""
  lines = [line.strip() for line in pathlib.Path(path).read_text(errors='replace').splitlines()
           if line.strip()]
  return lines[-1] if lines else 'no output'


def prepare(config, workdir: str | pathlib.Path) -> str:
  """Build every cohort in `config.synthetic_cohorts`; returns the data dir used."""
  data_dir = pathlib.Path(config.data_dir or pathlib.Path(workdir) / 'data').expanduser()
  data_dir.mkdir(parents=True, exist_ok=True)
  jobs = []
  for cohort in config.synthetic_cohorts:
    if built(data_dir, cohort.name):
      logging.info('Synthetic cohort %s already built in %s.', cohort.name, data_dir)
      continue
    spec = {'name': cohort.name, 'cohort_layout': cohort.layout,
            'num_nights': cohort.nights, 'hours': cohort.hours, 'seed': cohort.seed,
            'split_sizes': list(cohort.split_sizes),
            'stage_contrast': cohort.get('stage_contrast', 1.0)}
    cmd = [sys.executable, '-m', 'tfds_builders.build', 'synthetic',
           f'--config={json.dumps(spec)}', f'--data_dir={data_dir}']
    log = open(data_dir / f'build_{cohort.name}.log', 'w')
    print(f'Generating + building synthetic cohort {cohort.name} ({cohort.nights} '
          f'{cohort.layout}-like nights of {cohort.hours} h) -> {data_dir}', flush=True)
    jobs.append((cohort.name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT),
                 log))
  start = time.perf_counter()
  failed = []
  for name, proc, log in jobs:
    proc.wait()
    log.close()
    if proc.returncode:
      failed.append(f'{name}: {_last_line(log.name)} (see {log.name})')
  if failed:
    raise RuntimeError(f'Building the synthetic cohorts failed: {"; ".join(failed)}')
  if jobs:
    print(f'Built {len(jobs)} synthetic cohort(s) in {time.perf_counter() - start:.0f} s.',
          flush=True)
  return str(data_dir)
