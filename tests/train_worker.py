"""Subprocess entry points for training tests that need a fresh JAX runtime.

  train_worker.py loss OUT.json                  (honours XLA_FLAGS device count)
  train_worker.py distributed WORKDIR ADDR ID    (2-process jax.distributed run + evaluate)
  train_worker.py sigterm WORKDIR                (sends itself SIGTERM mid-run)
  train_worker.py cli TRAIN_FLAGS...             (the train CLI on the in-memory nights)

Also a config file: --config=tests/train_worker.py[:MAX_STEPS] (tiny model).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def get_config(max_steps: str | None = None):
  from tests.training import test_train
  return test_train._config(max_steps=int(max_steps or 2), eval_every_steps=1)


def _train_cli(argv):
  """`python -m wav2sleep_jax.train` with the test sources instead of TFDS."""
  from wav2sleep_jax import train
  from wav2sleep_jax.core import cli
  from wav2sleep_jax.training import trainer
  from tests.training import test_train
  trainer.load_sources = lambda config, data_dir: test_train._sources()
  sys.argv = ['wav2sleep_jax.train', *argv]
  train.define_flags()
  cli.run(train.main, errors=train.CLI_ERRORS)


def main():
  mode, *args = sys.argv[1:]
  if mode == 'cli':
    return _train_cli(args)
  if mode == 'distributed':
    import jax
    jax.distributed.initialize(
        coordinator_address=args[1], num_processes=2, process_id=int(args[2]))
  import jax
  import jax.numpy as jnp
  import numpy as np
  from wav2sleep_jax.core import distributed
  from wav2sleep_jax.models import io as model_io
  from wav2sleep_jax.training import trainer
  from tests.training import test_train

  trainer.load_sources = lambda config, data_dir: test_train._sources()
  if mode == 'loss':
    config = test_train._config(batch_size=8)
    step, state = test_train._step_fn_and_state(config)
    mesh = distributed.make_mesh()
    state = jax.device_put(state, distributed.replicated(mesh))
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(3):
      batch = distributed.global_batch(test_train._easy_batch(rng, 8, 4), mesh)
      state, m = step(state, batch, jax.random.key(0))
      losses.append(float(m['loss']))
    pathlib.Path(args[0]).write_text(json.dumps({'devices': jax.device_count(), 'losses': losses}))
  elif mode == 'distributed':
    workdir = pathlib.Path(args[0])
    result = trainer.train_and_evaluate(
        test_train._config(max_steps=2, eval_every_steps=2, batch_size=2, eval_batch_size=2),
        workdir)
    from wav2sleep_jax.evaluation import evaluator
    evaluated = evaluator.evaluate_workdir(
        workdir, sources=test_train._sources()['test'], progress=False)
    (workdir / f'result_{jax.process_index()}.json').write_text(
        json.dumps(
            {
                'process_count': jax.process_count(),
                'step': result['step'],
                'best_val_loss': result['best_val_loss'],
                'eval': evaluated['results']
            },
            default=float))
  elif mode == 'sigterm':
    workdir = pathlib.Path(args[0])
    original = trainer._Writer.scalars

    def scalars_then_preempt(self, step, values):
      original(self, step, values)
      if step == 2 and any(k.startswith('train/') for k in values):
        os.kill(os.getpid(), signal.SIGTERM)  # A preemption notice mid-run.

    trainer._Writer.scalars = scalars_then_preempt
    result = trainer.train_and_evaluate(
        test_train._config(max_steps=50, eval_every_steps=1000, log_every_steps=2), workdir)
    (workdir / 'first.json').write_text(json.dumps(result, default=float))
  else:
    raise SystemExit(f'unknown mode {mode}')


if __name__ == '__main__':
  main()
