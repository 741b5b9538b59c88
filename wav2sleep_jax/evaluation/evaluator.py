"""Evaluation: pooled confusion matrices per (dataset, signal subset).

Confusion matrices accumulate on device; kappa/accuracy are computed on the host
from the matrix pooled over all scored epochs (the paper's "total kappa").
A subset is evaluated only on nights that have all of its signals; the empty
subset () means "all signals the night has".

`evaluate_sources` is the one evaluation path: training's validation, training's
final test table and `evaluate_workdir` (`python -m wav2sleep_jax.evaluate`, which
evaluates a finished run: WORKDIR/config.json + WORKDIR/model, report in
WORKDIR/eval/<split>/) all go through it. Nights are whole unless the run config's
`eval_max_epochs` (or evaluate's --max_epochs) cuts them; the scored epochs cut off
are counted and reported. Our records are zero-padded to the next multiple of
eval_epochs with exact padding (the model's `valid_epochs_B`), so a night's numbers
never depend on its batch-mates or padded length; records of `reference`
preprocessing are already the model's full grid and run on it as stored (unpadded,
uncut, the stored padding in the norms as in the reference).
"""

from __future__ import annotations

import dataclasses
import functools
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
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import run_dir as run_dir_lib
from wav2sleep_jax.core import stages
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.evaluation import metrics
from wav2sleep_jax.evaluation import tables
from wav2sleep_jax.models import cpu_fast_paths
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import model_files
from wav2sleep_jax.models import losses
from wav2sleep_jax.models import wav2sleep
from wav2sleep_jax.models.config import ModelConfig

SPLITS = ('test', 'validation')


def subset_name(subset: Sequence[str]) -> str:
  return '+'.join(subset) if subset else 'all available'


def subset_vector(subset: Sequence[str], signals: Sequence[str]) -> np.ndarray:
  unknown = set(subset) - set(signals)
  if unknown:
    raise ValueError(f'Subset {subset} names signals the model lacks: {sorted(unknown)}.')
  return np.array([(not subset) or (s in subset) for s in signals], bool)


def make_eval_step(graphdef: nnx.GraphDef,
                   num_classes: int,
                   mesh: jax.sharding.Mesh | None = None) -> Callable:
  """eval_step(params, batch, subset_M, require_all) -> summed statistics.

  Exact padding iff the batch has 'valid_epochs' (`evaluate_sources` decides by
  the records' preprocessing; ModelConfig.exact_padding is training's). With a
  mesh, every output is replicated so each process can read the per-night
  results (batches are sharded over processes).
  """

  def eval_step(params, batch, subset_M, require_all):
    present_BM = batch['present']
    has_subset_B = jnp.where(require_all, (present_BM | ~subset_M).all(-1),
                             (present_BM & subset_M).any(-1))
    night_ok_B = batch['is_night'] & has_subset_B
    mask_BM = present_BM & subset_M & night_ok_B[:, None]
    # Nights without any signal attend to the CLS token only; their labels are ignored.
    model = nnx.merge(graphdef, params)
    logits_BSK = model(batch['signals'], mask_BM, valid_epochs_B=batch.get('valid_epochs'))
    labels_BS = jnp.where(night_ok_B[:, None], batch['labels'], -1)
    loss_sum, count = losses.cross_entropy_sum(logits_BSK, labels_BS)
    pred_BS = logits_BSK.argmax(-1)
    return {
        'loss_sum': loss_sum,
        'count': count,
        'nights': night_ok_B.sum(),
        'cm': metrics.confusion_matrix(labels_BS, pred_BS, num_classes),
        'night_cm': metrics.per_night_confusion(labels_BS, pred_BS, num_classes),
        'night_ok': night_ok_B
    }

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

  def add_batch(self, out: Mapping[str, Any]) -> None:
    """Adds one eval_step output (host arrays)."""
    self.nights += int(out['nights'])
    self.loss_sum += float(out['loss_sum'])
    self.count += int(out['count'])
    self.cm = out['cm'] if self.cm is None else self.cm + out['cm']
    for ok, night_cm in zip(out['night_ok'], out['night_cm']):
      if ok and night_cm.sum():
        self.night_kappas.append(metrics.cohen_kappa(night_cm))

  def add(self, other: SubsetResult) -> None:
    """Pools another result (e.g. of another dataset) into this one."""
    self.nights += other.nights
    self.loss_sum += other.loss_sum
    self.count += other.count
    if other.cm is not None:
      self.cm = other.cm if self.cm is None else self.cm + other.cm
    self.night_kappas.extend(other.night_kappas)

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
    return {
        'subset': subset_name(self.subset),
        'nights': self.nights,
        'scored_epochs': self.count,
        'loss': self.loss,
        'kappa': self.kappa,
        'accuracy': self.accuracy,
        'night_kappa_median': float(q[1]),
        'night_kappa_iqr': [float(q[0]), float(q[2])],
        'confusion_matrix': None if self.cm is None else self.cm.tolist(),
        **{
            k: v.tolist() for k, v in scores.items()
        }
    }


def evaluate(eval_step: Callable,
             params: Any,
             batches: Iterable[dict],
             signals: Sequence[str],
             subsets: Sequence[Sequence[str]],
             to_device: Callable = lambda b: b) -> dict[tuple[str, ...], SubsetResult]:
  """Run every subset over every batch (each batch is read once)."""
  results = {tuple(s): SubsetResult(tuple(s)) for s in subsets}
  vectors = {tuple(s): jnp.asarray(subset_vector(s, signals)) for s in subsets}
  for batch in batches:
    batch = to_device(batch)
    for subset, res in results.items():
      res.add_batch(jax.device_get(eval_step(params, batch, vectors[subset], bool(subset))))
  return results


def pooled(results: Iterable[SubsetResult], subset: Sequence[str] = ()) -> SubsetResult:
  """One result over several (e.g. all validation datasets)."""
  total = SubsetResult(tuple(subset))
  for res in results:
    total.add(res)
  return total


def summaries(
    results: Mapping[str, Mapping[tuple[str, ...], SubsetResult]]
) -> dict[str, dict[str, dict[str, Any]]]:
  """{dataset: {subset name: summary}}: the table of reports and metrics.json."""
  return {
      name: {
          subset_name(k): r.summary() for k, r in per_subset.items()
      } for name, per_subset in results.items()
  }


# ----------------------------------------------------------------------------
# Datasets: every night once, whole (unless cut), sharded over processes
# ----------------------------------------------------------------------------

EXACT_PADDING = 'exact'
REFERENCE_GRID = 'reference grid'


def eval_spec(mcfg: ModelConfig, preprocessing: prep_lib.Preprocessing,
              eval_epochs: int) -> pipeline.NightSpec:
  """How evaluation prepares records of `preprocessing` (num_epochs: the padding step)."""
  return pipeline.NightSpec(
      mcfg.signals,
      eval_epochs,
      mcfg.num_classes,
      causal_normalization=mcfg.causal,
      preprocessing=preprocessing)


def max_epochs_of(config: ml_collections.ConfigDict, override: int | None = None) -> int:
  """Evaluation's crop: `override`, else the run's eval_max_epochs (absent: 0 = whole nights)."""
  value = config.get('eval_max_epochs', 0) if override is None else override
  value = int(value or 0)
  if value < 0:
    raise cli.InputError(f'max_epochs must be >= 0 (0 = whole nights), got {value}.')
  return value


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
    stats_3N[:,
             i] = (len(labels), (labels
                                 >= 0).sum(), (labels[max_epochs:] >= 0).sum() if max_epochs else 0)
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


def _buckets(epochs_N: np.ndarray, spec: pipeline.NightSpec,
             max_epochs: int) -> dict[int, list[int]]:
  """{evaluated length: night indices}, shortest first (reference: the stored length)."""
  buckets: dict[int, list[int]] = {}
  for i, epochs in enumerate(epochs_N):
    length = (
        int(epochs) if spec.preprocessing.is_reference else eval_length(
            int(epochs), spec.num_epochs, max_epochs))
    buckets.setdefault(length, []).append(i)
  return dict(sorted(buckets.items()))


def _bucket_batches(source: Any, buckets: Mapping[int, Sequence[int]], spec: pipeline.NightSpec,
                    batch_size: int, bar) -> Iterator[dict]:
  """Batches of nights of equal length; the bar counts nights of all processes.

  Our records keep 'valid_epochs' (exact padding); reference records drop it: the
  stored grid is the model's input, as in the reference.
  """
  index, count = jax.process_index(), jax.process_count()
  per_round = batch_size * count
  for length, indices in buckets.items():
    nights = _Selection(source, indices)
    bucket_spec = dataclasses.replace(spec, num_epochs=length)
    for b, batch in enumerate(pipeline.eval_batches(nights, bucket_spec, batch_size, index, count)):
      if spec.preprocessing.is_reference:
        del batch['valid_epochs']
      yield batch
      if bar is not None:
        bar.update(min(per_round, len(indices) - b * per_round))


def _progress_bar(total: int, name: str, enabled: bool):
  if not enabled or jax.process_index() != 0:
    return None
  from tqdm import tqdm
  return tqdm(total=total, desc=name, unit='night', dynamic_ncols=True)


def _coverage(scan: Mapping[str, np.ndarray], buckets: Mapping[int, Sequence[int]], max_epochs: int,
              spec: pipeline.NightSpec) -> dict[str, Any]:
  """What a dataset's numbers cover: nights, scored epochs, lengths, what was cut."""
  return {
      'nights': len(scan['epochs']),
      'scored_epochs': int(scan['scored'].sum()),
      'longest_night_epochs': int(scan['epochs'].max(initial=0)),
      'eval_lengths': {
          str(k): len(v) for k, v in buckets.items()
      },
      'padding': REFERENCE_GRID if spec.preprocessing.is_reference else EXACT_PADDING,
      'max_epochs': max_epochs,
      'cropped_nights': int((scan['cropped'] > 0).sum()),
      'cropped_scored_epochs': int(scan['cropped'].sum())
  }


def evaluate_sources(
    eval_step: Callable,
    params: Any,
    sources: Mapping[str, Any],
    spec: pipeline.NightSpec,
    subsets: Sequence[Sequence[str]],
    batch_size: int,
    to_device: Callable = lambda b: b,
    max_epochs: int = 0,
    progress: bool = True,
    scans: dict | None = None
) -> tuple[dict[str, dict[tuple[str, ...], SubsetResult]], dict[str, dict]]:
  """Every subset on every night of every dataset -> (results, coverage per dataset).

  Our nights are cut after `max_epochs` (0: never) and zero-padded to
  eval_length(S, spec.num_epochs, max_epochs) with exact padding; nights of one
  length are batched together. Reference records run on their stored grid
  (max_epochs does not apply). `batch_size` is per process; `scans` caches the
  label scans across calls (training's validation).
  """
  if spec.preprocessing.is_reference and max_epochs:
    logging.info(
        'Reference records are evaluated on their whole %d-epoch grid; '
        'max_epochs=%d does not apply.', spec.preprocessing.grid_epochs, max_epochs)
    max_epochs = 0
  scans = {} if scans is None else scans
  results, coverage = {}, {}
  for name, source in sources.items():
    started = time.perf_counter()
    if (name, max_epochs) not in scans:
      scans[name, max_epochs] = scan_nights(source, max_epochs)
    scan = scans[name, max_epochs]
    buckets = _buckets(scan['epochs'], spec, max_epochs)
    bar = _progress_bar(len(source), name, progress)
    try:
      results[name] = evaluate(eval_step, params,
                               _bucket_batches(source, buckets, spec, batch_size, bar),
                               spec.signals, subsets, to_device)
    finally:
      if bar is not None:
        bar.close()
    coverage[name] = _coverage(scan, buckets, max_epochs, spec)
    logging.info('Evaluated %s: %d nights, lengths %s, %d scored epochs cut off, %.1f s.', name,
                 len(source), coverage[name]['eval_lengths'],
                 coverage[name]['cropped_scored_epochs'],
                 time.perf_counter() - started)
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
      subsets.append(
          tuple(n.strip().upper() for n in part.replace('+', ',').split(',') if n.strip()))
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
      logging.info('Skipping configured subset %s: the model takes %s.', subset_name(subset),
                   list(signals))
  for subset in extra:
    subset_vector(subset, signals)
    add(subset)
  return chosen


# ----------------------------------------------------------------------------
# Run directories
# ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cached_eval_step(graphdef: nnx.GraphDef, num_classes: int, mesh: jax.sharding.Mesh):
  return make_eval_step(graphdef, num_classes, mesh)


def _model_to_evaluate(run: run_dir_lib.RunDir, model: str | None,
                       sharding) -> model_files.LoadedModel:
  """`model` (any model path), else the run's WORKDIR/model."""
  if model is not None:
    return model_files.read_model(model, sharding)
  if not model_io.is_model_checkpoint(run.model):
    raise FileNotFoundError(f'No trained model in {run.model} (needs {model_io.CONFIG_FILE} and '
                            f'{model_io.PARAMS_DIR}/); training writes it when it finishes.')
  return model_files.read_model(run.model, sharding)


def _sources_to_evaluate(config: ml_collections.ConfigDict, run: run_dir_lib.RunDir, split: str,
                         datasets: Sequence[str] | None, data_dir: str | None,
                         sources: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], list[str]]:
  """(sources, names of the config's datasets that are not prepared)."""
  if sources is not None:
    return ({n: sources[n] for n in datasets} if datasets else sources), []
  data_dir = run.data_dir(config, data_dir)
  if datasets:
    return {n: pipeline.load_source(n, split, data_dir) for n in datasets}, []
  names = list(config.test_datasets if split == 'test' else config.val_datasets)
  sources = pipeline.load_eval_sources(names, split, data_dir)
  if not sources:
    raise FileNotFoundError(f'None of {names} has a prepared {split!r} split under '
                            f'{data_dir or "the TFDS default data dir"}.')
  return sources, [n for n in names if n not in sources]


def _subsets_and_batch(config, subsets: Sequence[Sequence[str]], signals: Sequence[str],
                       batch_size: int | None) -> tuple[list[tuple[str, ...]], int]:
  """(signal subsets to score, per-process batch); InputError naming a bad one."""
  try:
    chosen = select_subsets(config.eval_subsets, subsets, signals)
    if batch_size is not None and batch_size < 1:
      raise ValueError(f'Batch size must be >= 1, got {batch_size}.')
    return chosen, distributed.check_batch_size(batch_size or config.eval_batch_size)
  except ValueError as e:
    raise cli.InputError(str(e)) from e


def evaluate_workdir(workdir: str | pathlib.Path,
                     split: str = 'test',
                     subsets: Sequence[Sequence[str]] = (),
                     datasets: Sequence[str] | None = None,
                     data_dir: str | None = None,
                     batch_size: int | None = None,
                     max_epochs: int | None = None,
                     sources: Mapping[str, Any] | None = None,
                     progress: bool = True,
                     model: str | None = None,
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
    max_epochs: cut nights after this many epochs (0: never; None: the run config's
      eval_max_epochs, as training evaluated); cut scored epochs are counted and reported.
    sources: {name: random-access nights} used instead of TFDS.
    model: evaluate this model instead of WORKDIR/model: a folder of ours, a reference
      folder or hf://namespace/name[@revision] (`models.model_files`).
    config: the run config when WORKDIR has no config.json (with `model`).

  Returns:
    The dict written to WORKDIR/eval/<split>/metrics.json.
  """
  if split not in SPLITS:
    raise ValueError(f'Unknown split {split!r}; choose from {SPLITS}.')
  run = run_dir_lib.RunDir(workdir)
  if config is None or run.config_file.is_file():
    config = run.read_config()
  mesh = distributed.make_mesh()
  loaded = _model_to_evaluate(run, model, distributed.replicated(mesh))
  mcfg, params, model_prep = loaded.config, loaded.params, loaded.preprocessing
  chosen, local_batch = _subsets_and_batch(config, subsets, mcfg.signals, batch_size)
  crop = max_epochs_of(config, max_epochs)
  sources, missing = _sources_to_evaluate(config, run, split, datasets, data_dir, sources)
  pipeline.check_preprocessing(model_prep, sources, f'The model in {loaded.path}')
  raw, coverage = evaluate_sources(
      _cached_eval_step(model_io.graphdef(mcfg), mcfg.num_classes, mesh), params, sources,
      eval_spec(mcfg, model_prep, config.eval_epochs), chosen, local_batch,
      lambda batch: distributed.global_batch(batch, mesh), crop, progress)
  out = {
      'split':
          split,
      'step':
          run.trained_step(),
      'signals':
          list(mcfg.signals),
      'num_classes':
          mcfg.num_classes,
      'stage_names':
          list(stages.stage_names(mcfg.num_classes)),
      'eval_epochs':
          config.eval_epochs,
      'eval_max_epochs':
          crop,
      'subsets': [subset_name(s) for s in chosen],
      'preprocessing':
          model_prep.to_dict(),
      'model':
          model or str(run.model),
      **({
          'model_commit': loaded.hub.model_commit
      } if loaded.hub else {}), 'missing_datasets':
          missing,
      'datasets':
          coverage,
      'results':
          summaries(raw)
  }
  if jax.process_index() == 0:
    tables.write_report(run.eval_dir(split), out)
  return out
