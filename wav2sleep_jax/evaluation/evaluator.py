"""Evaluation: pooled confusion matrices per (dataset, signal subset).

Confusion matrices accumulate on device; kappa/accuracy are computed on the host
from the matrix pooled over all scored epochs (the paper's "total kappa").
A subset is evaluated only on nights that have all of its signals; the empty
subset () means "all signals the night has".

`evaluate_workdir` evaluates a finished training run (WORKDIR/config.json +
WORKDIR/model) and writes WORKDIR/eval/<split>/; `python -m
wav2sleep_jax.evaluate` is its command line. Nights are never cut: a night of S
epochs is zero-padded to the next multiple of the config's eval_epochs (so
nights up to eval_epochs are evaluated exactly as in training), unless
`max_epochs` asks for a crop, which is counted and reported.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import distributed
from wav2sleep_jax.core import stages
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import metrics
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import model_files
from wav2sleep_jax.models import losses
from wav2sleep_jax.models import wav2sleep

RUN_CONFIG_FILE = 'config.json'
MODEL_DIR = 'model'
SPLITS = ('test', 'validation')


def subset_name(subset: Sequence[str]) -> str:
  return '+'.join(subset) if subset else 'all available'


def subset_vector(subset: Sequence[str], signals: Sequence[str]) -> np.ndarray:
  unknown = set(subset) - set(signals)
  if unknown:
    raise ValueError(f'Subset {subset} names signals the model lacks: {sorted(unknown)}.')
  return np.array([(not subset) or (s in subset) for s in signals], bool)


def make_eval_step(graphdef: nnx.GraphDef, num_classes: int,
                   mesh: jax.sharding.Mesh | None = None) -> Callable:
  """eval_step(params, batch, subset_M, require_all) -> summed statistics.

  With a mesh, every output is replicated so each process can read the
  per-night results (batches are sharded over processes).
  """

  def eval_step(params, batch, subset_M, require_all):
    present_BM = batch['present']
    has_subset_B = jnp.where(require_all, (present_BM | ~subset_M).all(-1),
                             (present_BM & subset_M).any(-1))
    night_ok_B = batch['is_night'] & has_subset_B
    mask_BM = present_BM & subset_M & night_ok_B[:, None]
    # Nights without any signal attend to the CLS token only; their labels are ignored.
    model = nnx.merge(graphdef, params)
    valid_B = batch['valid_epochs'] if model.cfg.exact_padding else None
    logits_BSK = model(batch['signals'], mask_BM, valid_epochs_B=valid_B)
    labels_BS = jnp.where(night_ok_B[:, None], batch['labels'], -1)
    loss_sum, count = losses.cross_entropy_sum(logits_BSK, labels_BS)
    pred_BS = logits_BSK.argmax(-1)
    return {'loss_sum': loss_sum, 'count': count, 'nights': night_ok_B.sum(),
            'cm': metrics.confusion_matrix(labels_BS, pred_BS, num_classes),
            'night_cm': metrics.per_night_confusion(labels_BS, pred_BS, num_classes),
            'night_ok': night_ok_B}

  options = wav2sleep.compiler_options()
  eval_step = cpu_fast_paths.per_platform(eval_step)
  if mesh is None:
    return jax.jit(eval_step, compiler_options=options)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.jit(eval_step, out_shardings=replicated, compiler_options=options)


@dataclasses.dataclass
class SubsetResult:
  """Pooled results of one signal subset on one dataset."""
  subset: tuple[str, ...]
  nights: int = 0
  loss_sum: float = 0.0
  count: int = 0
  cm: np.ndarray | None = None
  night_kappas: list[float] = dataclasses.field(default_factory=list)

  @property
  def loss(self) -> float:
    return self.loss_sum / self.count if self.count else float('nan')

  @property
  def kappa(self) -> float:
    return metrics.cohen_kappa(self.cm) if self.cm is not None else float('nan')

  @property
  def accuracy(self) -> float:
    return metrics.accuracy(self.cm) if self.cm is not None else float('nan')

  def summary(self) -> dict[str, Any]:
    kappas = np.asarray(self.night_kappas, float)
    kappas = kappas[np.isfinite(kappas)]
    q = np.percentile(kappas, [25, 50, 75]) if kappas.size else [float('nan')] * 3
    scores = metrics.per_class_scores(self.cm) if self.cm is not None else {}
    return {'subset': subset_name(self.subset), 'nights': self.nights,
            'scored_epochs': self.count, 'loss': self.loss, 'kappa': self.kappa,
            'accuracy': self.accuracy, 'night_kappa_median': float(q[1]),
            'night_kappa_iqr': [float(q[0]), float(q[2])],
            'confusion_matrix': None if self.cm is None else self.cm.tolist(),
            **{k: v.tolist() for k, v in scores.items()}}


def evaluate(eval_step: Callable, params: Any, batches: Iterable[dict], signals: Sequence[str],
             subsets: Sequence[Sequence[str]], to_device: Callable = lambda b: b
             ) -> dict[tuple[str, ...], SubsetResult]:
  """Run every subset over every batch (each batch is read once)."""
  results = {tuple(s): SubsetResult(tuple(s)) for s in subsets}
  vectors = {tuple(s): jnp.asarray(subset_vector(s, signals)) for s in subsets}
  for batch in batches:
    batch = to_device(batch)
    for subset, res in results.items():
      out = jax.device_get(eval_step(params, batch, vectors[subset], bool(subset)))
      res.nights += int(out['nights'])
      res.loss_sum += float(out['loss_sum'])
      res.count += int(out['count'])
      res.cm = out['cm'] if res.cm is None else res.cm + out['cm']
      for ok, night_cm in zip(out['night_ok'], out['night_cm']):
        if ok and night_cm.sum():
          res.night_kappas.append(metrics.cohen_kappa(night_cm))
  return results


# ----------------------------------------------------------------------------
# Datasets: every night once, never cut (unless asked), sharded over processes
# ----------------------------------------------------------------------------

def eval_length(epochs: int, eval_epochs: int, max_epochs: int = 0) -> int:
  """Padded length of a night: the next multiple of eval_epochs, or max_epochs if smaller."""
  length = eval_epochs * max(1, -(-epochs // eval_epochs))
  return min(length, max_epochs) if max_epochs else length


def _sum_over_processes(x: np.ndarray) -> np.ndarray:
  if jax.process_count() == 1:
    return x
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(x)).sum(0)


def scan_nights(source: Any, max_epochs: int = 0) -> dict[str, np.ndarray]:
  """Per night: stored epochs, scored epochs, scored epochs beyond max_epochs.

  Each process reads its share of the nights; all processes get every count.
  """
  n = len(source)
  stats_3N = np.zeros((3, n), np.int64)
  for i in range(jax.process_index(), n, jax.process_count()):
    labels = np.asarray(source[i]['labels'])
    stats_3N[:, i] = (len(labels), (labels >= 0).sum(),
                      (labels[max_epochs:] >= 0).sum() if max_epochs else 0)
  stats_3N = _sum_over_processes(stats_3N)
  return {'epochs': stats_3N[0], 'scored': stats_3N[1], 'cropped': stats_3N[2]}


class _Selection:
  """Random access to some nights of a source."""

  def __init__(self, source: Any, indices: Sequence[int]):
    self._source, self._indices = source, list(indices)

  def __len__(self) -> int:
    return len(self._indices)

  def __getitem__(self, i: int):
    return self._source[self._indices[i]]


def _bucket_batches(source: Any, buckets: Mapping[int, Sequence[int]],
                    spec: pipeline.NightSpec, batch_size: int, bar) -> Iterator[dict]:
  """Batches of nights of equal padded length; the bar counts nights of all processes."""
  index, count = jax.process_index(), jax.process_count()
  per_round = batch_size * count
  for length, indices in buckets.items():
    nights = _Selection(source, indices)
    bucket_spec = dataclasses.replace(spec, num_epochs=length)
    for b, batch in enumerate(pipeline.eval_batches(nights, bucket_spec, batch_size,
                                                    index, count)):
      yield batch
      if bar is not None:
        bar.update(min(per_round, len(indices) - b * per_round))


def _progress_bar(total: int, name: str, enabled: bool):
  if not enabled or jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=total, desc=name, unit='night', dynamic_ncols=True)


def evaluate_sources(eval_step: Callable, params: Any, sources: Mapping[str, Any],
                     spec: pipeline.NightSpec, subsets: Sequence[Sequence[str]],
                     batch_size: int, to_device: Callable = lambda b: b, max_epochs: int = 0,
                     progress: bool = True
                     ) -> tuple[dict[str, dict[tuple[str, ...], SubsetResult]], dict[str, dict]]:
  """Every subset on every night of every dataset -> (results, coverage per dataset).

  A night of S epochs is zero-padded to eval_length(S, spec.num_epochs,
  max_epochs); nights of one length are batched together, so a night's
  prediction never depends on the other nights. `batch_size` is per process.
  """
  results, coverage = {}, {}
  for name, source in sources.items():
    started = time.perf_counter()
    scan = scan_nights(source, max_epochs)
    buckets: dict[int, list[int]] = {}
    for i, epochs in enumerate(scan['epochs']):
      buckets.setdefault(eval_length(int(epochs), spec.num_epochs, max_epochs), []).append(i)
    buckets = dict(sorted(buckets.items()))
    bar = _progress_bar(len(source), name, progress)
    try:
      results[name] = evaluate(eval_step, params,
                               _bucket_batches(source, buckets, spec, batch_size, bar),
                               spec.signals, subsets, to_device)
    finally:
      if bar is not None:
        bar.close()
    coverage[name] = {
        'nights': len(source), 'scored_epochs': int(scan['scored'].sum()),
        'longest_night_epochs': int(scan['epochs'].max(initial=0)),
        'eval_lengths': {str(k): len(v) for k, v in buckets.items()},
        'max_epochs': max_epochs, 'cropped_nights': int((scan['cropped'] > 0).sum()),
        'cropped_scored_epochs': int(scan['cropped'].sum())}
    logging.info('Evaluated %s: %d nights, padded lengths %s, %d scored epochs cut off, '
                 '%.1f s.', name, len(source), coverage[name]['eval_lengths'],
                 coverage[name]['cropped_scored_epochs'], time.perf_counter() - started)
  return results, coverage


# ----------------------------------------------------------------------------
# Signal subsets
# ----------------------------------------------------------------------------

def parse_subsets(text: str) -> list[tuple[str, ...]]:
  """'ECG;ECG,THX;PPG+THX;all' -> [('ECG',), ('ECG', 'THX'), ('PPG', 'THX'), ()]."""
  subsets = []
  for part in (text or '').split(';'):
    part = part.strip()
    if not part:
      continue
    if part.lower() in ('all', 'all available'):
      subsets.append(())
    else:
      subsets.append(tuple(n.strip().upper() for n in part.replace('+', ',').split(',')
                           if n.strip()))
  return subsets


def select_subsets(configured: Iterable[Sequence[str]], extra: Iterable[Sequence[str]],
                   signals: Sequence[str]) -> list[tuple[str, ...]]:
  """The config's subsets the model can take, then the extra ones; no repeats.

  Raises:
    ValueError: an extra subset names a signal the model lacks.
  """
  chosen, seen = [], set()

  def add(subset):
    if frozenset(subset) not in seen:
      seen.add(frozenset(subset))
      chosen.append(tuple(subset))

  for subset in configured:
    if set(subset) <= set(signals):
      add(subset)
    else:
      logging.info('Skipping configured subset %s: the model takes %s.',
                   subset_name(subset), list(signals))
  for subset in extra:
    subset_vector(subset, signals)
    add(subset)
  return chosen


# ----------------------------------------------------------------------------
# Run directories
# ----------------------------------------------------------------------------

def save_run_config(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> None:
  """WORKDIR/config.json: the full training config (process 0 writes it)."""
  if jax.process_index() == 0:
    path = pathlib.Path(workdir) / RUN_CONFIG_FILE
    path.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + '\n')


def load_run_config(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
  workdir = pathlib.Path(workdir)
  if not workdir.is_dir():
    raise FileNotFoundError(f'Workdir {workdir} does not exist.')
  path = workdir / RUN_CONFIG_FILE
  if not path.is_file():
    raise FileNotFoundError(
        f'{path} not found: evaluation needs the training config that wav2sleep_jax.train '
        'writes there. Rerun the same training command on this workdir to write it (a '
        'finished run does not train again).')
  try:
    return ml_collections.ConfigDict(json.loads(path.read_text()))
  except (ValueError, TypeError) as e:  # Bad JSON, or JSON that is not an object.
    raise cli.InputError(f'{path} is not a valid run config: {e}') from e


def resolve_data_dir(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                     override: str | None = None) -> str | None:
  """Where the run's TFDS data lives (as training.trainer resolves it); None = TFDS default."""
  if override:
    return str(pathlib.Path(override).expanduser())
  if config.get('data_dir'):
    return str(pathlib.Path(config.data_dir).expanduser())
  if config.get('prepare') == 'synthetic':
    return str(workdir / 'data')
  return None


def _trained_step(workdir: pathlib.Path) -> int:
  """Step of the model in WORKDIR/model (the best step recorded by training), else 0."""
  path = workdir / 'metrics.json'
  if path.is_file():
    recorded = json.loads(path.read_text())
    step = recorded.get('best_step', -1)
    return int(step) if step is not None and step >= 0 else int(recorded.get('step', 0))
  return 0


@functools.lru_cache(maxsize=8)
def _cached_eval_step(graphdef: nnx.GraphDef, num_classes: int, mesh: jax.sharding.Mesh):
  return make_eval_step(graphdef, num_classes, mesh)


def _model_to_evaluate(workdir: pathlib.Path, model: str | None, sharding
                       ) -> model_files.LoadedModel:
  """`model` (any model path), else the run's WORKDIR/model."""
  if model is not None:
    return model_files.read_model(model, sharding)
  model_dir = workdir / MODEL_DIR
  if not model_io.is_model_checkpoint(model_dir):
    raise FileNotFoundError(
        f'No trained model in {model_dir} (needs {model_io.CONFIG_FILE} and '
        f'{model_io.PARAMS_DIR}/); training writes it when it finishes.')
  return model_files.read_model(model_dir, sharding)


def evaluate_workdir(workdir: str | pathlib.Path, split: str = 'test',
                     subsets: Sequence[Sequence[str]] = (),
                     datasets: Sequence[str] | None = None, data_dir: str | None = None,
                     batch_size: int | None = None, max_epochs: int = 0,
                     sources: Mapping[str, Any] | None = None,
                     progress: bool = True, model: str | None = None,
                     config: ml_collections.ConfigDict | None = None) -> dict[str, Any]:
  """Evaluates WORKDIR/model on every dataset x signal subset; writes WORKDIR/eval/<split>/.

  Args:
    workdir: a training run's directory (needs config.json and model/).
    split: 'test' or 'validation'.
    subsets: extra signal subsets besides the config's eval_subsets.
    datasets: dataset names (default: the config's test_datasets / val_datasets;
      missing defaults are skipped and listed, missing named ones are an error).
    data_dir: TFDS data dir (default: the run's).
    batch_size: nights per global batch (default: the config's eval_batch_size).
    max_epochs: crop nights to this many epochs (0: never); cut scored epochs
      are counted and reported.
    sources: {name: random-access nights} used instead of TFDS.
    model: evaluate this model instead of WORKDIR/model: a folder of ours, a reference
      folder or hf://namespace/name[@revision] (`models.model_files`).
    config: the run config when WORKDIR has no config.json (with `model`).

  Returns:
    The dict written to WORKDIR/eval/<split>/metrics.json.
  """
  if split not in SPLITS:
    raise ValueError(f'Unknown split {split!r}; choose from {SPLITS}.')
  workdir = pathlib.Path(workdir).expanduser().absolute()
  if config is None or (workdir / RUN_CONFIG_FILE).is_file():
    config = load_run_config(workdir)
  mesh = distributed.make_mesh()
  loaded = _model_to_evaluate(workdir, model, distributed.replicated(mesh))
  mcfg, params, model_prep = loaded.config, loaded.params, loaded.preprocessing
  try:
    chosen = select_subsets(config.eval_subsets, subsets, mcfg.signals)
    if batch_size is not None and batch_size < 1:
      raise ValueError(f'Batch size must be >= 1, got {batch_size}.')
    local_batch = distributed.check_batch_size(batch_size or config.eval_batch_size)
  except ValueError as e:
    raise cli.InputError(str(e)) from e

  missing = []
  if sources is None:
    data_dir = resolve_data_dir(config, workdir, data_dir)
    if datasets:
      sources = {n: pipeline.load_source(n, split, data_dir) for n in datasets}
    else:
      names = list(config.test_datasets if split == 'test' else config.val_datasets)
      sources = pipeline.load_eval_sources(names, split, data_dir)
      missing = [n for n in names if n not in sources]
      if not sources:
        raise FileNotFoundError(f'None of {names} has a prepared {split!r} split under '
                                f'{data_dir or "the TFDS default data dir"}.')
  elif datasets:
    sources = {n: sources[n] for n in datasets}

  pipeline.check_preprocessing(model_prep, sources, f'The model in {loaded.path}')
  spec = pipeline.NightSpec(mcfg.signals, config.eval_epochs, mcfg.num_classes,
                            causal_normalization=mcfg.causal, preprocessing=model_prep)
  raw, coverage = evaluate_sources(
      _cached_eval_step(model_io.graphdef(mcfg), mcfg.num_classes, mesh), params, sources,
      spec, chosen, local_batch, lambda batch: distributed.global_batch(batch, mesh),
      max_epochs, progress)
  out = {'split': split, 'step': _trained_step(workdir), 'signals': list(mcfg.signals),
         'num_classes': mcfg.num_classes,
         'stage_names': list(stages.stage_names(mcfg.num_classes)),
         'eval_epochs': config.eval_epochs, 'subsets': [subset_name(s) for s in chosen],
         'preprocessing': model_prep.to_dict(),
         'model': model or str(workdir / MODEL_DIR),
         **({'model_commit': loaded.hub.model_commit} if loaded.hub else {}),
         'missing_datasets': missing, 'datasets': coverage,
         'results': {name: {subset_name(k): r.summary() for k, r in per_subset.items()}
                     for name, per_subset in raw.items()}}
  if jax.process_index() == 0:
    tables.write_report(workdir / 'eval' / split, out)
  return out
