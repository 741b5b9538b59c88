"""The training job: train_and_evaluate(config, workdir) (command: wav2sleep_jax.train).

Reads top to bottom: devices/mesh -> data -> model -> shard -> step functions ->
restore -> loop -> final evaluation. A run resumes from the newest checkpoint in
its workdir (after SIGTERM/preemption, SIGKILL or a crash).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import distributed
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import evaluator
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import wav2sleep
from wav2sleep_jax.models.config import ModelConfig
from wav2sleep_jax.training import checkpoints
from wav2sleep_jax.training import step as step_lib
from wav2sleep_jax.training import workdir_guard


def model_config_from(config: ml_collections.ConfigDict) -> ModelConfig:
  fields = config.model.to_dict()
  fields['encoder_channels'] = {k: tuple(v) for k, v in dict(fields['encoder_channels']).items()}
  return ModelConfig(**fields)


# ----------------------------------------------------------------------------
# Checkpoints and logging
# ----------------------------------------------------------------------------

class _Preemption:
  """Turns SIGTERM into a flag the loop polls (save, then exit cleanly)."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del frame
    logging.warning('Received signal %d: checkpointing and exiting.', signum)
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)

  def any_process(self) -> bool:
    if jax.process_count() == 1:
      return self.requested
    from jax.experimental import multihost_utils
    return bool(multihost_utils.process_allgather(np.array(self.requested)).any())


class _Writer:
  """TensorBoard (process 0) + console scalars."""

  def __init__(self, workdir: pathlib.Path):
    self._tb = None
    if jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(str(workdir / 'tensorboard'))

  def scalars(self, step: int, values: dict[str, float]):
    if self._tb is not None:
      for k, v in values.items():
        self._tb.add_scalar(k, float(v), step)

  def close(self):
    if self._tb is not None:
      self._tb.close()


def _abstract(tree):
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


# ----------------------------------------------------------------------------
# Main loop
# ----------------------------------------------------------------------------

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       sources: dict[str, Any] | None = None,
                       on_config_change: str = 'refuse') -> dict[str, Any]:
  """Trains (resuming from `workdir`), then evaluates the best checkpoint.

  `sources` optionally replaces the TFDS datasets with random-access nights:
  {'train': {name: source}, 'validation': {name: source}, 'test': {name: source}}.
  The workdir is locked for the whole run (a second trainer is refused), and a
  config that differs from the stored WORKDIR/config.json in fields a resume
  cannot change is refused unless `on_config_change` is 'accept' or 'new_run'
  (see workdir_guard.check_config).

  Returns a dict with 'status' ('finished', 'early_stopped', 'preempted'),
  'step', 'best_step', 'best_val_loss' and the final 'test' metrics.
  """
  workdir = pathlib.Path(workdir).absolute()
  if workdir.exists() and not workdir.is_dir():
    raise NotADirectoryError(f'--workdir {workdir} is not a directory.')
  workdir.mkdir(parents=True, exist_ok=True)
  with workdir_guard.locked(workdir, jax.process_index(), jax.process_count()):
    if workdir_guard.check_config(config, workdir, _has_run(workdir), on_config_change):
      if jax.process_index() == 0:
        workdir_guard.move_run_aside(workdir)
      checkpoints.sync('new_run')
    return _train_and_evaluate(config, workdir, sources)


def _has_run(workdir: pathlib.Path) -> bool:
  """Something a restart would resume or overwrite: checkpoints or a model."""
  steps = [p for name in ('checkpoints', 'best') for p in (workdir / name).glob('*')
           if p.name.isdigit()]
  return bool(steps) or (workdir / 'model').exists()


def _train_and_evaluate(config, workdir: pathlib.Path, sources) -> dict[str, Any]:
  """The run itself (workdir locked and config checked)."""
  import grain
  import orbax.checkpoint as ocp

  # Devices and mesh.
  mesh = distributed.make_mesh()
  local_batch = distributed.check_batch_size(config.batch_size)
  local_eval_batch = distributed.check_batch_size(config.eval_batch_size)
  logging.info('Devices: %d (%s), processes: %d', jax.device_count(),
               jax.devices()[0].platform, jax.process_count())

  # Data.
  data_dir = os.path.expanduser(config.data_dir) if config.data_dir else None
  if config.prepare == 'synthetic' and sources is None:
    from wav2sleep_jax.training import demo_data
    data_dir = demo_data.prepare(config, workdir)
  elif config.prepare not in ('', 'synthetic'):
    raise cli.InputError(f'Unknown config.prepare {config.prepare!r} (expected "" or "synthetic").')
  mcfg = model_config_from(config)
  if sources is None:
    sources = {'train': {n: pipeline.load_source(n, 'train', data_dir)
                         for n in config.train_datasets},
               'validation': pipeline.load_eval_sources(config.val_datasets,
                                                        'validation', data_dir),
               'test': pipeline.load_eval_sources(config.test_datasets, 'test',
                                                  data_dir)}
  train_sources = list(sources['train'].values())
  train_spec = pipeline.NightSpec(mcfg.signals, config.train_epochs, mcfg.num_classes,
                                  causal_normalization=mcfg.causal)
  eval_spec = pipeline.NightSpec(mcfg.signals, config.eval_epochs, mcfg.num_classes,
                                 causal_normalization=mcfg.causal)
  if config.mixture_weights:
    train_ds = pipeline.train_dataset(
        train_sources[0], train_spec, local_batch, config.seed, config.worker_count,
        jax.process_index(), jax.process_count(), weights=list(config.mixture_weights),
        extra_sources=train_sources[1:])
  else:
    train_ds = pipeline.train_dataset(
        pipeline.ConcatSource(train_sources), train_spec, local_batch, config.seed,
        config.worker_count, jax.process_index(), jax.process_count())
  train_iter = iter(train_ds)
  val_sources = sources['validation']
  logging.info('Training nights: %d from %s; validation: %s',
               sum(len(s) for s in train_sources), ', '.join(sources['train']),
               {k: len(v) for k, v in val_sources.items()})

  # Model, optimizer, state.
  params = model_io.init_params(mcfg, config.seed)
  graphdef = model_io.graphdef(mcfg)
  tx = step_lib.make_optimizer(config)
  state = step_lib.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                              opt_state=tx.init(params),
                              ema_params=params if config.ema_decay else {})

  # Shard: everything replicated, batches split over 'data'.
  state = jax.device_put(state, distributed.replicated(mesh))
  to_device = lambda batch: distributed.global_batch(batch, mesh)

  # Step functions.
  train_step = jax.jit(step_lib.make_train_step(graphdef, config, tx, mcfg.signals),
                       donate_argnums=0, compiler_options=wav2sleep.compiler_options(mcfg))
  eval_step = evaluator.make_eval_step(graphdef, mcfg.num_classes, mesh)

  # Restore (the newest intact checkpoint; corrupt ones are moved aside).
  options = ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True)
  ckpt = ocp.CheckpointManager(workdir / 'checkpoints', options=options)
  best_ckpt = ocp.CheckpointManager(workdir / 'best',
                                    options=ocp.CheckpointManagerOptions(max_to_keep=1,
                                                                         create=True))
  progress = {'best_val_loss': float('inf'), 'best_step': -1, 'bad_evals': 0, 'history': []}
  restored = checkpoints.restore_newest(ckpt, lambda step: ckpt.restore(
      step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(_abstract(state)),
          data=grain.checkpoint.CheckpointRestore(train_iter),
          progress=ocp.args.JsonRestore())), workdir / 'checkpoints')
  if restored is not None:
    state, progress = restored[1].state, restored[1].progress
    logging.info('Resumed from step %d in %s', int(state.step), workdir)
  _check_best(best_ckpt, workdir / 'best', progress, _abstract(_eval_params(state, config)))
  if jax.process_index() == 0:  # The run starts: what `wav2sleep_jax.evaluate` rebuilds from.
    workdir_guard.write_config(config, workdir)

  def save(step: int):
    ckpt.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(train_iter),
        progress=ocp.args.JsonSave(progress)), force=True)

  # Loop.
  writer = _Writer(workdir)
  preemption = _Preemption()
  rng = jax.random.key(config.seed)
  step = int(state.step)
  status = 'finished'
  bar = _progress_bar(config.max_steps, step)
  started, nights_seen = time.perf_counter(), 0
  try:
    while step < config.max_steps:
      batch = to_device(next(train_iter))
      state, m = train_step(state, batch, rng)
      step += 1
      nights_seen += config.batch_size
      loss = float(m['loss'])
      if not np.isfinite(loss):
        raise step_lib.NonFiniteLossError(
            f'Training loss is {loss} at step {step}; stopping without checkpointing. '
            f'Last good checkpoint: step {ckpt.latest_step()} in {workdir / "checkpoints"}. '
            'Lower --config.learning_rate or check the data for corrupt nights.')
      if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f'{loss:.3f}')
      if step % config.log_every_steps == 0 or step == 1:
        elapsed = time.perf_counter() - started
        scalars = {k: float(v) for k, v in m.items()}
        scalars['nights_per_s'] = nights_seen / max(elapsed, 1e-9)
        writer.scalars(step, {f'train/{k}': v for k, v in scalars.items()})
        logging.info('step %d: %s', step, ', '.join(f'{k} {v:.4g}' for k, v in scalars.items()))
        started, nights_seen = time.perf_counter(), 0
      if step % config.eval_every_steps == 0 or step == config.max_steps:
        val = _validate(eval_step, state, val_sources, eval_spec, local_eval_batch, mcfg,
                        to_device, config)
        writer.scalars(step, {f'val/{k}': v for k, v in val.items()})
        logging.info('step %d validation: %s', step, val)
        progress['history'].append({'step': step, **val})
        if val['loss'] < progress['best_val_loss']:
          progress.update(best_val_loss=val['loss'], best_step=step, bad_evals=0)
          best_ckpt.save(step, args=ocp.args.StandardSave(_eval_params(state, config)),
                         force=True)
        else:
          progress['bad_evals'] += 1
        save(step)
        if progress['bad_evals'] >= config.patience:
          logging.info('Early stopping at step %d: validation loss has not improved for %d '
                       'evaluations (best %.4f at step %d).', step, config.patience,
                       progress['best_val_loss'], progress['best_step'])
          status = 'early_stopped'
          break
      if preemption.any_process():
        save(step)
        status = 'preempted'
        break
  finally:
    if bar is not None:
      bar.close()
    ckpt.wait_until_finished()
    best_ckpt.wait_until_finished()
    preemption.restore()
  result = {'status': status, 'step': step, 'best_step': progress['best_step'],
            'best_val_loss': progress['best_val_loss']}
  if status == 'preempted':
    logging.warning('Preempted at step %d; the next run in %s resumes from here.', step, workdir)
    writer.close()
    return result

  # Final evaluation of the best checkpoint on the test sets.
  if best_ckpt.latest_step() is not None:
    best_params = best_ckpt.restore(best_ckpt.latest_step(), args=ocp.args.StandardRestore(
        _abstract(_eval_params(state, config))))
  else:
    best_params = _eval_params(state, config)
  model_io.save_model(workdir / 'model', mcfg, best_params)  # Collective: all processes.
  table = {}
  for name, source in sources['test'].items():
    results = evaluator.evaluate(
        eval_step, best_params,
        pipeline.eval_batches(source, eval_spec, local_eval_batch, jax.process_index(),
                              jax.process_count()),
        mcfg.signals, [s for s in config.eval_subsets if set(s) <= set(mcfg.signals)],
        to_device)
    table[name] = {evaluator.subset_name(k): r.summary() for k, r in results.items()}
    writer.scalars(step, {f'test/{tables.tag(name)}/{tables.tag(subset)}/kappa': s['kappa']
                          for subset, s in table[name].items() if s['nights']})
  result['test'] = table
  if jax.process_index() == 0:
    (workdir / 'metrics.json').write_text(json.dumps(result, indent=2, default=float))
    print(tables.summary_tables(table))  # Rows: the config's subsets the model takes.
  writer.close()
  return result


def _check_best(best_ckpt, folder: pathlib.Path, progress: dict[str, Any], abstract_params
                ) -> None:
  """Verifies best/ at start: corrupt or not matching `progress` -> moved aside."""
  import orbax.checkpoint as ocp
  best = checkpoints.restore_newest(best_ckpt, lambda step: best_ckpt.restore(
      step, args=ocp.args.StandardRestore(abstract_params)), folder, move_if_none=True)
  if best is not None and best[0] != progress['best_step']:
    checkpoints.move_aside(folder, best[0], f'best step {best[0]} does not match the '
                           f'restored training progress (best step {progress["best_step"]})',
                           kind='stale')
    checkpoints.sync('stale_best')
    best_ckpt.reload()
    best = None
  if best is None and progress['best_step'] >= 0:
    logging.warning('The best checkpoint (step %d, validation loss %.4g) is lost; the next '
                    'validation sets a new best.', progress['best_step'],
                    progress['best_val_loss'])
    progress.update(best_val_loss=float('inf'), best_step=-1)


def _eval_params(state: step_lib.TrainState, config):
  return state.ema_params if config.ema_decay else state.params


def _validate(eval_step, state, sources, spec, batch_size, mcfg, to_device, config
              ) -> dict[str, float]:
  """Pooled validation loss/kappa over all validation datasets (all signals)."""
  total = evaluator.SubsetResult(())
  params = _eval_params(state, config)
  for source in sources.values():
    res = evaluator.evaluate(
        eval_step, params,
        pipeline.eval_batches(source, spec, batch_size, jax.process_index(),
                              jax.process_count()),
        mcfg.signals, [()], to_device)[()]
    total.loss_sum += res.loss_sum
    total.count += res.count
    total.nights += res.nights
    total.cm = res.cm if total.cm is None else total.cm + res.cm
  return {'loss': total.loss, 'kappa': total.kappa, 'accuracy': total.accuracy}


def _progress_bar(total: int, initial: int):
  if jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=total, initial=initial, desc='train', unit='step', dynamic_ncols=True)
