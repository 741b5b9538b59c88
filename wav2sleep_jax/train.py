"""Train wav2sleep on prepared cohorts (the main job).

  python -m wav2sleep_jax.train --config=wav2sleep_jax/configs/demo.py --workdir=runs/demo
  python -m wav2sleep_jax.train --config=wav2sleep_jax/configs/default.py --workdir=DIR \
      --config.data_dir=~/tensorflow_datasets [--config.batch_size=8 ...]

A run resumes from the newest checkpoint in its workdir (after SIGTERM/preemption,
SIGKILL or a crash). The library is `wav2sleep_jax.training.trainer`.
"""

from __future__ import annotations

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import distributed
from wav2sleep_jax.models import host_heap
from wav2sleep_jax.training import checkpoints
from wav2sleep_jax.training import trainer
from wav2sleep_jax.training import workdir_guard


def define_flags() -> None:
  """CLI flags, defined only when run as a program (importing stays side-effect free)."""
  config_flags.DEFINE_config_file('config', None, 'Training configuration file.', lock_config=True)
  flags.DEFINE_string('workdir', None, 'Directory for checkpoints and logs.')
  distributed.define_flags()
  flags.DEFINE_enum(
      'on_config_change', 'refuse', workdir_guard.ON_CONFIG_CHANGE,
      'When the config differs from WORKDIR/config.json in fields a resume cannot change '
      '(model, shapes, data, optimisation): refuse (default), new_run (move the old run to '
      'WORKDIR/previous/<time>/ and start afresh) or accept (resume anyway).')


# Reported as one line (exit 2) by the command line; anything else keeps its traceback.
CLI_ERRORS = (workdir_guard.WorkdirLockedError, workdir_guard.ConfigChangedError,
              checkpoints.NoRestorableCheckpointError)


def main(argv):
  # Orbax logs every checkpoint step at INFO; keep the console for training progress.
  cli.quiet_orbax()
  del argv  # cli.run refuses positional arguments.
  distributed.initialize_from_flags()
  if flags.FLAGS.workdir is None or flags.FLAGS.config is None:
    raise app.UsageError('--config and --workdir are required.')
  result = trainer.train_and_evaluate(
      flags.FLAGS.config, flags.FLAGS.workdir, on_config_change=flags.FLAGS.on_config_change)
  logging.info('Done: %s', {k: v for k, v in result.items() if k not in ('test', 'test_coverage')})


def run():
  """Console script `wav2sleep-train`."""
  define_flags()
  host_heap.reexec_with_reusable_heap()
  cli.run(main, errors=CLI_ERRORS)


if __name__ == '__main__':
  run()
