"""The training job: train_and_evaluate(config, workdir) (command: wav2sleep_jax.train).

Reads top to bottom in named stages, each a function tests can call or patch:
  setup_devices -> prepare_data (demo cohorts) -> load_sources -> make_data ->
  make_model (state, jitted steps) -> restore -> train_loop -> final_evaluation.
The stages share one `Run` (run directory, devices, data, model, checkpoints,
writer) and take `(config, run)`. Validation and the final test table are
`evaluator.evaluate_sources`, the path of `python -m wav2sleep_jax.evaluate`.
A run resumes from the newest checkpoint in its workdir (after SIGTERM/preemption,
SIGKILL or a crash).
"""

from __future__ import annotations

import collections
import dataclasses
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
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import run_dir as run_dir_lib
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
  """Turns SIGTERM into a flag the loop polls on logging/evaluation steps (save, exit)."""

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
    """Whether any process got SIGTERM (a collective when multi-process)."""
    if jax.process_count() == 1:
      return self.requested
    from jax.experimental import multihost_utils
    return bool(multihost_utils.process_allgather(np.array(self.requested)).any())


class _Writer:
  """TensorBoard (process 0) + console scalars."""

  def __init__(self, logdir: pathlib.Path):
    self._tb = None
    if jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(str(logdir))

  def scalars(self, step: int, values: dict[str, float]):
    if self._tb is not None:
      for k, v in values.items():
        self._tb.add_scalar(k, float(v), step)

  def close(self):
    if self._tb is not None:
      self._tb.close()


def _abstract(tree):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


# ----------------------------------------------------------------------------
# The job, stage by stage
# ----------------------------------------------------------------------------


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str,
                       on_config_change: str = 'refuse') -> dict[str, Any]:
  """Trains (resuming from `workdir`), then evaluates the best checkpoint.

  The workdir is locked for the whole run (a second trainer is refused), and a
  config that differs from the stored WORKDIR/config.json in fields a resume
  cannot change is refused unless `on_config_change` is 'accept' or 'new_run'
  (see workdir_guard.check_config).

  Returns a dict with 'status' ('finished', 'early_stopped', 'preempted'),
  'step', 'best_step', 'best_val_loss' and the final 'test' metrics.
  """
  folder = run_dir_lib.RunDir(workdir)
  workdir = folder.path
  if workdir.exists() and not workdir.is_dir():
    raise NotADirectoryError(f'--workdir {workdir} is not a directory.')
  workdir.mkdir(parents=True, exist_ok=True)
  with workdir_guard.locked(workdir, jax.process_index(), jax.process_count()):
    if workdir_guard.check_config(config, workdir, folder.has_run(), on_config_change):
      if jax.process_index() == 0:
        workdir_guard.move_run_aside(workdir)
      checkpoints.sync('new_run')
    return _run(config, folder)


def _run(config, folder: run_dir_lib.RunDir) -> dict[str, Any]:
  """The run itself (workdir locked and config checked)."""
  run = Run(folder, setup_devices(config))
  run.data = make_data(config, run, load_sources(config, prepare_data(config, run)))
  run.model = make_model(config, run)
  run.ckpts = restore(config, run)
  run.writer = _Writer(folder.tensorboard)
  try:
    status, step = train_loop(config, run)
    result = {
        'status': status,
        'step': step,
        'best_step': run.ckpts.progress['best_step'],
        'best_val_loss': run.ckpts.progress['best_val_loss']
    }
    if status == 'preempted':
      logging.warning('Preempted at step %d; the next run in %s resumes from here.', step,
                      folder.path)
      return result
    return final_evaluation(config, run, result)
  finally:
    run.writer.close()


@dataclasses.dataclass
class Devices:
  """The mesh and the per-process batch sizes."""
  mesh: jax.sharding.Mesh
  local_batch: int
  local_eval_batch: int

  def to_device(self, batch):
    return distributed.global_batch(batch, self.mesh)


def setup_devices(config) -> Devices:
  """Stage 1: the 1-D 'data' mesh over all devices; batch sizes checked against it."""
  devices = Devices(distributed.make_mesh(), distributed.check_batch_size(config.batch_size),
                    distributed.check_batch_size(config.eval_batch_size))
  logging.info('Devices: %d (%s), processes: %d', jax.device_count(),
               jax.devices()[0].platform, jax.process_count())
  return devices


def prepare_data(config, run: Run) -> str | None:
  """Stage 2a: the run's TFDS data dir; builds the demo's cohorts first if configured."""
  if config.prepare not in ('', 'synthetic'):
    raise cli.InputError(f'Unknown config.prepare {config.prepare!r} (expected "" or '
                         '"synthetic").')
  if config.prepare == 'synthetic':
    from wav2sleep_jax.training import demo_data
    demo_data.prepare(config, run.dir.path)
  return run.dir.data_dir(config)


def load_sources(config, data_dir: str | None) -> dict[str, dict[str, Any]]:
  """Stage 2b: random-access nights, {'train'|'validation'|'test': {dataset: source}}."""
  return {
      'train': {
          n: pipeline.load_source(n, 'train', data_dir) for n in config.train_datasets
      },
      'validation': pipeline.load_eval_sources(config.val_datasets, 'validation', data_dir),
      'test': pipeline.load_eval_sources(config.test_datasets, 'test', data_dir)
  }


@dataclasses.dataclass
class Data:
  """The training iterator, the sources of every split and the night specs."""
  train_iter: Any  # Grain iterator of per-process training batches (checkpointed).
  sources: dict[str, dict[str, Any]]
  train_spec: pipeline.NightSpec
  eval_spec: pipeline.NightSpec  # evaluator.eval_spec: the padding step is eval_epochs.
  val_scans: dict = dataclasses.field(default_factory=dict)  # Validation's label scans.


def make_data(config, run: Run, sources: dict[str, dict[str, Any]]) -> Data:
  """Stage 2c: the training pipeline (a mixture or one concatenation) and eval specs."""
  mcfg = model_config_from(config)
  train_sources = list(sources['train'].values())
  prep = records_preprocessing(sources)
  train_spec = pipeline.NightSpec(
      mcfg.signals,
      config.train_epochs,
      mcfg.num_classes,
      causal_normalization=mcfg.causal,
      preprocessing=prep)
  shard = dict(process_index=jax.process_index(), process_count=jax.process_count())
  local_batch = run.devices.local_batch
  if config.mixture_weights:
    train_ds = pipeline.train_dataset(
        train_sources[0],
        train_spec,
        local_batch,
        config.seed,
        config.worker_count,
        weights=list(config.mixture_weights),
        extra_sources=train_sources[1:],
        **shard)
  else:
    train_ds = pipeline.train_dataset(
        pipeline.ConcatSource(train_sources), train_spec, local_batch, config.seed,
        config.worker_count, **shard)
  logging.info('Training nights: %d from %s; validation: %s', sum(len(s) for s in train_sources),
               ', '.join(sources['train']), {
                   k: len(v) for k, v in sources['validation'].items()
               })
  return Data(
      iter(train_ds), sources, train_spec, evaluator.eval_spec(mcfg, prep, config.eval_epochs))


def records_preprocessing(sources: dict[str, dict[str, Any]]) -> prep_lib.Preprocessing:
  """The one preprocessing of every split's records (refused by name if they differ)."""
  train = sources['train']
  first = next(iter(train))
  prep = pipeline.source_preprocessing(first, train[first])
  for split, by_name in sources.items():
    pipeline.check_preprocessing(prep, by_name, f'Training (on {first})')
  return prep


@dataclasses.dataclass
class Model:
  """The model config, the replicated train state and the jitted step functions."""
  mcfg: ModelConfig
  state: step_lib.TrainState  # Replicated over the mesh.
  train_step: Any  # (state, batch, rng, first_bad) -> (state, metrics, first_bad)
  eval_step: Any


def make_model(config, run: Run) -> Model:
  """Stage 3: parameters, optimizer state (replicated) and the jitted step functions."""
  mcfg = model_config_from(config)
  params = model_io.init_params(mcfg, config.seed)
  graphdef = model_io.graphdef(mcfg)
  tx = step_lib.make_optimizer(config)
  devices = run.devices
  state = jax.device_put(
      step_lib.create_train_state(config, params, tx), distributed.replicated(devices.mesh))
  train_step = jax.jit(
      _guarded(step_lib.make_train_step(graphdef, config, tx, mcfg.signals)),
      donate_argnums=(0, 3),
      compiler_options=wav2sleep.compiler_options(mcfg))
  return Model(mcfg, state, train_step,
               evaluator.make_eval_step(graphdef, mcfg.num_classes, devices.mesh))


def _guarded(train_step):
  """Adds the device-side guard: `first_bad` = first step whose loss is not finite (-1: none)."""

  def guarded_step(state, batch, rng, first_bad):
    state, metrics = train_step(state, batch, rng)
    bad = (first_bad < 0) & ~jnp.isfinite(metrics['loss'])
    return state, metrics, jnp.where(bad, state.step, first_bad)

  return guarded_step


@dataclasses.dataclass
class Checkpoints:
  """The checkpoint managers (training state, best parameters) and the progress record."""
  ckpt: Any
  best_ckpt: Any
  progress: dict[str, Any]
  folder: pathlib.Path  # Of `ckpt`.

  def save(self, step: int, state, train_iter):
    import grain
    import orbax.checkpoint as ocp
    self.ckpt.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(train_iter),
            progress=ocp.args.JsonSave(self.progress)),
        force=True)

  def wait(self):
    self.ckpt.wait_until_finished()
    self.best_ckpt.wait_until_finished()


@dataclasses.dataclass
class Run:
  """What the stages share, filled in stage by stage."""
  dir: run_dir_lib.RunDir
  devices: Devices
  data: Data | None = None
  model: Model | None = None
  ckpts: Checkpoints | None = None
  writer: _Writer | None = None


def restore(config, run: Run) -> Checkpoints:
  """Stage 4: the newest intact checkpoint (corrupt ones are moved aside), best/ verified."""
  import grain
  import orbax.checkpoint as ocp
  folder, model = run.dir, run.model
  options = ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True)
  ckpt = ocp.CheckpointManager(folder.checkpoints, options=options)
  best_ckpt = ocp.CheckpointManager(
      folder.best, options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
  progress = {'best_val_loss': float('inf'), 'best_step': -1, 'bad_evals': 0, 'history': []}
  restored = checkpoints.restore_newest(
      ckpt, lambda step: ckpt.restore(
          step,
          args=ocp.args.Composite(
              state=ocp.args.StandardRestore(_abstract(model.state)),
              data=grain.checkpoint.CheckpointRestore(run.data.train_iter),
              progress=ocp.args.JsonRestore())), folder.checkpoints)
  if restored is not None:
    model.state, progress = restored[1].state, restored[1].progress
    logging.info('Resumed from step %d in %s', int(model.state.step), folder.path)
  _check_best(best_ckpt, folder.best, progress, _abstract(_eval_params(model.state, config)))
  if jax.process_index() == 0:  # The run starts: what `wav2sleep_jax.evaluate` rebuilds from.
    folder.write_config(config)
  return Checkpoints(ckpt, best_ckpt, progress, folder.checkpoints)


def train_loop(config, run: Run) -> tuple[str, int]:
  """Stage 5: steps until max_steps, early stopping or preemption; -> (status, step).

  The host reads nothing back from a step except on logging and evaluation
  steps: there it checks the device-side guard (the first step with a
  non-finite loss; raises before anything is saved, so no NaN state is ever
  checkpointed) and reads the scalars. The next batch is copied to the devices
  while a step runs. SIGTERM on any process is polled on those steps too (one
  collective, not one per step): a preemption is noticed at the next of them,
  i.e. up to min(log_every_steps, eval_every_steps) - 1 steps late, then
  checkpointed.
  """
  model, ckpts = run.model, run.ckpts
  batches = distributed.DevicePrefetch(run.data.train_iter, run.devices.mesh, size=2)
  preemption = _Preemption()
  rng = jax.random.key(config.seed)
  first_bad = jax.device_put(jnp.int32(-1), distributed.replicated(run.devices.mesh))
  step = int(model.state.step)
  status = 'finished'
  bar = _progress_bar(config.max_steps, step)
  finished = FinishedSteps(bar)
  meter = _Meter(step)
  try:
    while step < config.max_steps:
      model.state, metrics, first_bad = model.train_step(model.state, next(batches), rng, first_bad)
      step += 1
      finished.dispatched(metrics['loss'])
      log_now = step % config.log_every_steps == 0 or step == 1
      eval_now = step % config.eval_every_steps == 0 or step == config.max_steps
      if not (log_now or eval_now):
        continue
      finished.wait_all()
      _check_finite(first_bad, step, ckpts)
      if log_now:
        _log_train(step, metrics, meter, config.batch_size, run.writer, bar)
      if eval_now and _validate_and_save(config, run, step, batches):
        status = 'early_stopped'
        break
      if preemption.any_process():
        ckpts.save(step, model.state, batches)
        status = 'preempted'
        break
  finally:
    if bar is not None:
      bar.close()
    ckpts.wait()
    preemption.restore()
  return status, step


def _check_finite(first_bad: jax.Array, step: int, ckpts: Checkpoints) -> None:
  """Raises NonFiniteLossError if a step up to `step` had a NaN/inf loss (waits for it)."""
  bad = int(first_bad)
  if bad >= 0:
    raise step_lib.NonFiniteLossError(
        f'Training loss is not finite (NaN or inf) at step {bad} (found at step {step}); '
        f'stopping without checkpointing. Last good checkpoint: step '
        f'{ckpts.ckpt.latest_step()} in {ckpts.folder}. '
        'Lower --config.learning_rate or check the data for corrupt nights.')


class FinishedSteps:
  """Advances the progress bar as steps finish on the devices, not as they are queued.

  The loop dispatches steps ahead of the devices and only waits on logging and
  evaluation steps; counting dispatches showed bursts of several steps/s and
  then a stall of a whole logging interval (the demo on CPU). Each step's marker (a small output of that step) is
  polled without blocking, and `wait_all` polls until every queued step is done,
  so the bar moves while the host waits.
  """

  def __init__(self, bar, poll_s: float = 0.05):
    self.bar, self.poll_s = bar, poll_s
    self.pending = collections.deque()

  def dispatched(self, marker: jax.Array) -> None:
    if self.bar is None:
      return
    self.pending.append(marker)
    self.poll()

  def poll(self) -> None:
    done = 0
    while self.pending and self.pending[0].is_ready():
      self.pending.popleft()
      done += 1
    if done:
      self.bar.update(done)

  def wait_all(self) -> None:
    while self.pending:
      self.poll()
      if self.pending:
        time.sleep(self.poll_s)


class _Meter:
  """Nights per second between logging steps."""

  def __init__(self, step: int):
    self.step, self.started = step, time.perf_counter()

  def nights_per_s(self, step: int, batch_size: int) -> float:
    now = time.perf_counter()
    rate = (step - self.step) * batch_size / max(now - self.started, 1e-9)
    self.step, self.started = step, now
    return rate


def _log_train(step: int, metrics, meter: _Meter, batch_size: int, writer: _Writer, bar):
  """Train scalars of this step to TensorBoard, the log and the progress bar."""
  scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
  scalars['nights_per_s'] = meter.nights_per_s(step, batch_size)
  writer.scalars(step, {f'train/{k}': v for k, v in scalars.items()})
  logging.info('step %d: %s', step, ', '.join(f'{k} {v:.4g}' for k, v in scalars.items()))
  if bar is not None:
    bar.set_postfix(loss=f'{scalars["loss"]:.3f}')


def _validate_and_save(config, run: Run, step: int, train_iter) -> bool:
  """Validation, best/ on improvement, a checkpoint; True = stop early (patience spent)."""
  model, ckpts = run.model, run.ckpts
  val = _validate(config, run)
  run.writer.scalars(step, {f'val/{k}': v for k, v in val.items()})
  logging.info('step %d validation: %s', step, val)
  progress = ckpts.progress
  progress['history'].append({'step': step, **val})
  if val['loss'] < progress['best_val_loss']:
    import orbax.checkpoint as ocp
    progress.update(best_val_loss=val['loss'], best_step=step, bad_evals=0)
    ckpts.best_ckpt.save(
        step, args=ocp.args.StandardSave(_eval_params(model.state, config)), force=True)
  else:
    progress['bad_evals'] += 1
  ckpts.save(step, model.state, train_iter)
  if progress['bad_evals'] < config.patience:
    return False
  logging.info(
      'Early stopping at step %d: validation loss has not improved for %d '
      'evaluations (best %.4f at step %d).', step, config.patience, progress['best_val_loss'],
      progress['best_step'])
  return True


def _evaluate(config, run: Run, params, split: str, subsets, **kwargs):
  """`evaluator.evaluate_sources` on a split: the path `wav2sleep_jax.evaluate` takes."""
  return evaluator.evaluate_sources(run.model.eval_step, params, run.data.sources[split],
                                    run.data.eval_spec, subsets,
                                    run.devices.local_eval_batch, run.devices.to_device,
                                    evaluator.max_epochs_of(config), **kwargs)


def final_evaluation(config, run: Run, result: dict[str, Any]) -> dict[str, Any]:
  """Stage 6: the best checkpoint on the test sets, exported to WORKDIR/model, printed.

  The numbers are those `python -m wav2sleep_jax.evaluate --workdir` gives for the run
  (same path, same crop: config.eval_max_epochs); metrics.json's 'test_coverage'
  counts, per dataset, the nights and scored epochs, and those cut off.
  """
  import orbax.checkpoint as ocp
  best_ckpt, mcfg = run.ckpts.best_ckpt, run.model.mcfg
  best_params = _eval_params(run.model.state, config)
  if best_ckpt.latest_step() is not None:
    best_params = best_ckpt.restore(
        best_ckpt.latest_step(), args=ocp.args.StandardRestore(_abstract(best_params)))
  model_io.save_model(
      run.dir.model,
      mcfg,
      best_params,  # Collective: all processes.
      preprocessing=run.data.train_spec.preprocessing)
  subsets = evaluator.select_subsets(config.eval_subsets, (), mcfg.signals)
  raw, coverage = _evaluate(config, run, best_params, 'test', subsets, progress=False)
  table = evaluator.summaries(raw)
  run.writer.scalars(
      result['step'], {
          f'test/{tables.tag(name)}/{tables.tag(subset)}/kappa': s['kappa']
          for name, per_subset in table.items() for subset, s in per_subset.items() if s['nights']
      })
  result.update(test=table, test_coverage=coverage, eval_max_epochs=evaluator.max_epochs_of(config))
  if jax.process_index() == 0:
    run.dir.write_metrics(result)
    print(
        tables.summary_tables(table, [evaluator.subset_name(s) for s in subsets], 'test',
                              coverage))  # Rows: the config's subsets the model takes.
  return result


def _check_best(best_ckpt, folder: pathlib.Path, progress: dict[str, Any], abstract_params) -> None:
  """Verifies best/ at start: corrupt or not matching `progress` -> moved aside."""
  import orbax.checkpoint as ocp
  best = checkpoints.restore_newest(
      best_ckpt,
      lambda step: best_ckpt.restore(step, args=ocp.args.StandardRestore(abstract_params)),
      folder,
      move_if_none=True)
  if best is not None and best[0] != progress['best_step']:
    checkpoints.move_aside(
        folder,
        best[0], f'best step {best[0]} does not match the '
        f'restored training progress (best step {progress["best_step"]})',
        kind='stale')
    checkpoints.sync('stale_best')
    best_ckpt.reload()
    best = None
  if best is None and progress['best_step'] >= 0:
    logging.warning(
        'The best checkpoint (step %d, validation loss %.4g) is lost; the next '
        'validation sets a new best.', progress['best_step'], progress['best_val_loss'])
    progress.update(best_val_loss=float('inf'), best_step=-1)


def _eval_params(state: step_lib.TrainState, config):
  return state.ema_params if config.ema_decay else state.params


def _validate(config, run: Run) -> dict[str, float]:
  """Pooled validation loss/kappa over all validation datasets (all signals)."""
  raw, _ = _evaluate(
      config,
      run,
      _eval_params(run.model.state, config),
      'validation', [()],
      progress=False,
      scans=run.data.val_scans)
  total = evaluator.pooled(r[()] for r in raw.values())
  return {'loss': total.loss, 'kappa': total.kappa, 'accuracy': total.accuracy}


def _progress_bar(total: int, initial: int):
  if jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=total, initial=initial, desc='train', unit='step', dynamic_ncols=True)
