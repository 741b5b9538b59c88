"""Grain input pipeline over prepared nights (TFDS array_record data sources).

A prepared night is a stored record: its keys and what each holds are the
one schema `data.records.night_features` ('labels' int8 [S], 'signals'
{KEY: float32 [S*k] or empty}, 'present' {KEY: bool}, ...; KEY is
`signals.feature_key`). This module turns nights into fixed-shape model inputs:

  {'signals': {name: float32 [S*k]}, 'present': bool [M], 'labels': int32 [S],
   'is_night': bool, 'valid_epochs': int32}   (is_night False marks padding in
  evaluation batches; valid_epochs counts the night's epochs before zero padding)

No TensorFlow: sources come from `tfds.data_source` (numpy, random access).
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any, Iterator, Mapping, Sequence

from absl import logging
import grain
import numpy as np

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.core import stages
from wav2sleep_jax.data import normalize as normalize_lib


@dataclasses.dataclass(frozen=True)
class NightSpec:
  """How nights become model inputs (`preprocessing`: that of the records)."""
  signals: tuple[str, ...]
  num_epochs: int
  num_classes: int = 4
  causal_normalization: bool = False
  preprocessing: prep_lib.Preprocessing = prep_lib.Preprocessing()


class ConcatSource:
  """Random-access concatenation of several sources (e.g. cohorts)."""

  def __init__(self, sources: Sequence[Any]):
    self._sources = list(sources)
    self._offsets = np.cumsum([0] + [len(s) for s in self._sources]).tolist()

  def __len__(self) -> int:
    return self._offsets[-1]

  def __getitem__(self, index: int):
    if not 0 <= index < len(self):
      raise IndexError(index)
    which = bisect.bisect_right(self._offsets, index) - 1
    return self._sources[which][index - self._offsets[which]]


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def prepare_night(example: Mapping[str, Any],
                  spec: NightSpec,
                  start_epoch: int = 0) -> dict[str, Any]:
  """Normalise, crop/pad and relabel one stored night (numpy, no randomness).

  Each present signal is normalised over the whole stored night (z-score, or
  the causal EMA normaliser), then the window [start_epoch, start_epoch +
  num_epochs) is cut out; epochs beyond the night are zero signal / label -1.
  """
  labels = np.asarray(example['labels'], dtype=np.int32)
  total = len(labels)
  labels_S = np.full(spec.num_epochs, stages.UNSCORED, np.int32)
  window = labels[start_epoch:start_epoch + spec.num_epochs]
  labels_S[:len(window)] = window
  if spec.num_classes == 4:
    labels_S = stages.five_to_four(labels_S).astype(np.int32)
  x, present = {}, []
  for name in spec.signals:
    k = signals_lib.samples_per_epoch(name)
    key = signals_lib.feature_key(name)
    out = np.zeros(spec.num_epochs * k, np.float32)
    raw = example['signals'].get(key) if key in example.get('signals', {}) else None
    is_present = bool(example.get('present', {}).get(key, False)) and raw is not None \
        and len(raw) > 0
    if is_present:
      raw = np.asarray(raw, np.float32)[:total * k]
      if spec.preprocessing.is_reference:  # Over the whole stored grid, as the reference.
        norm = (
            normalize_lib.reference_causal_normalize(raw, signals_lib.sample_rate_hz(name))
            if spec.causal_normalization else normalize_lib.reference_zscore(raw))
      elif spec.causal_normalization:
        norm = normalize_lib.causal_normalize(raw, signals_lib.sample_rate_hz(name))
      else:
        norm = normalize_lib.zscore(raw[None])[0]
      piece = norm[start_epoch * k:(start_epoch + spec.num_epochs) * k]
      out[:len(piece)] = piece
    x[name] = out
    present.append(is_present)
  valid = min(max(total - start_epoch, 1), spec.num_epochs)
  return {
      'signals': x,
      'present': np.asarray(present, bool),
      'labels': labels_S,
      'is_night': np.asarray(True),
      'valid_epochs': np.asarray(valid, np.int32)
  }


class _RandomWindow(grain.transforms.RandomMap):
  """Training transform: a random window of `num_epochs` epochs of the night."""

  def __init__(self, spec: NightSpec):
    self.spec = spec

  def random_map(self, example, rng: np.random.Generator):
    total = len(example['labels'])
    start = int(rng.integers(0, total - self.spec.num_epochs + 1)) \
        if total > self.spec.num_epochs else 0
    return prepare_night(example, self.spec, start)


def train_dataset(source: Any,
                  spec: NightSpec,
                  batch_size: int,
                  seed: int,
                  worker_count: int = 0,
                  process_index: int = 0,
                  process_count: int = 1,
                  weights: Sequence[float] | None = None,
                  extra_sources: Sequence[Any] = (),
                  read_threads: int = 2,
                  prefetch_batches: int = 2) -> grain.IterDataset:
  """Shuffled, repeated, randomly cropped batches of `batch_size` nights per process.

  Args:
    source: random-access nights (e.g. ConcatSource over cohorts), or the first
      of several sources mixed with `weights` (then pass the others in
      `extra_sources`).
    batch_size: nights per batch on this process (global batch / process_count).
    worker_count: Grain worker processes (0 = in-process, for tests).
    read_threads: threads preparing batches in each process.
    prefetch_batches: batches each process prepares ahead. Grain's default (500)
      would hold hundreds of batches of 10-h nights (12 MB each) in memory.
  """
  if weights is not None:
    parts = [grain.MapDataset.source(s) for s in (source, *extra_sources)]
    ds = grain.MapDataset.mix(parts, weights)
  else:
    ds = grain.MapDataset.source(source)
  if len(ds) < process_count:
    raise ValueError(f'{len(ds)} training nights cannot feed {process_count} processes.')
  ds = ds.seed(seed).shuffle().repeat()
  ds = ds[process_index::process_count]
  ds = ds.random_map(_RandomWindow(spec))
  ds = ds.batch(batch_size, drop_remainder=True)
  it_ds = ds.to_iter_dataset(
      grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=prefetch_batches))
  if worker_count > 0:
    it_ds = it_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
  return it_ds


def _padding_night(spec: NightSpec) -> dict[str, Any]:
  return {
      'signals': {
          n: np.zeros(spec.num_epochs * signals_lib.samples_per_epoch(n), np.float32)
          for n in spec.signals
      },
      'present': np.zeros(len(spec.signals), bool),
      'labels': np.full(spec.num_epochs, stages.UNSCORED, np.int32),
      'is_night': np.asarray(False),
      'valid_epochs': np.asarray(spec.num_epochs, np.int32)
  }


def _stack(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
  return {
      'signals': {
          n: np.stack([it['signals'][n] for it in items]) for n in items[0]['signals']
      },
      'present': np.stack([it['present'] for it in items]),
      'labels': np.stack([it['labels'] for it in items]),
      'is_night': np.stack([it['is_night'] for it in items]),
      'valid_epochs': np.stack([it['valid_epochs'] for it in items])
  }


def eval_batches(source: Any,
                 spec: NightSpec,
                 batch_size: int,
                 process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict[str, Any]]:
  """Every night of `source` exactly once, from its first epoch, in fixed-shape batches.

  The last batch is padded with empty nights (is_night False, no signal, labels
  -1): nothing is dropped. Each process yields the same number of batches.
  """
  n = len(source)
  per_round = batch_size * process_count
  num_batches = max(1, -(-n // per_round))
  for b in range(num_batches):
    items = []
    for i in range(batch_size):
      index = b * per_round + process_index * batch_size + i
      items.append(prepare_night(source[index], spec) if index < n else _padding_night(spec))
    yield _stack(items)


def record_ids(source: Any) -> list[str]:
  return [_text(source[i]['record_id']) for i in range(len(source))]


def load_source(name: str, split: str, data_dir: str | None):
  """Random-access nights of a prepared TFDS dataset (no TensorFlow)."""
  import tensorflow_datasets as tfds
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir or None)
  except Exception as e:  # TFDS raises several types for "not prepared".
    cause = (str(e).strip().splitlines() or [''])[0]  # Not TFDS's list of all datasets.
    raise FileNotFoundError(
        f'Dataset {name!r} split {split!r} is not prepared under '
        f'{data_dir or "the TFDS default data dir"} ({type(e).__name__}: {cause}). Build it '
        f'with: python -m tfds_builders.build {name} --manual_dir=... --data_dir=...') from e


def source_preprocessing(name: str, source: Any) -> prep_lib.Preprocessing:
  """The preprocessing a source's nights were stored with (its first night's record)."""
  if not len(source):
    return prep_lib.Preprocessing()
  return prep_lib.from_json(source[0].get('preprocessing', ''), f'dataset {name}')


def check_preprocessing(expected: prep_lib.Preprocessing, sources: Mapping[str, Any],
                        what: str) -> None:
  """Refuses, by name, sources whose stored preprocessing is not `expected`."""
  for name, source in sources.items():
    stored = source_preprocessing(name, source)
    if stored != expected:
      raise prep_lib.PreprocessingError(
          f'{what} expects {expected.describe()} preprocessing, but dataset {name} was built '
          f'with {stored.describe()}; build it with the matching builder config (e.g. '
          f'{name.split("/")[0]}/{expected.name if expected.is_reference else "default"}).')


def load_eval_sources(names: Sequence[str], split: str, data_dir: str | None) -> dict[str, Any]:
  """Sources of the evaluation datasets that are prepared; missing ones are reported."""
  sources = {}
  for name in names:
    try:
      sources[name] = load_source(name, split, data_dir)
    except FileNotFoundError as e:
      logging.warning('Skipping %s/%s in evaluation: %s', name, split, e)
  return sources
