"""Shared TFDS builder for polysomnography nights (one tiny subclass per cohort).

Each example is one night, keyed by its record id; its features (each with its
`doc`) are `data.records.night_features`, its values `data.records.to_example`.

Nights are stored at their natural length up to `max_hours` (not padded). The
`reference` config stores them as the reference prepares them for training
(`preprocessing='reference'`: its channel lookup and units, every night on the
fixed grid of `max_hours`, zero-filled, in its ingest's sample order); models
trained on it expect that preprocessing, and the reference's checkpoints
(fine-tuned or evaluated) need such records.
What was skipped, and why, is written as `skipped.csv` and `skipped.json` in
the dataset's version folder (also when the build fails: then beside it, as
`skipped-<version>-failed.csv/.json`). A split whose every night is skipped is
left out of the dataset, with a warning and a 'split left out' report entry;
the other splits are built. With `beam_pipeline_options` (or a Beam runner
in the download config) the same nights are assembled by an Apache Beam
pipeline instead of in-process.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Iterator, Mapping, Sequence

from absl import logging
from etils import epath
import tensorflow_datasets as tfds

from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.data import records as records_lib
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import cohorts as cohorts_lib
from wav2sleep_jax.psg import reference_grid
from wav2sleep_jax.psg import skip_report as report_lib
from wav2sleep_jax.psg import splits as splits_lib

SKIP_REPORT_NAME = 'skipped'
_REPORT_PARTS = 'skipped-parts'  # Per-split partial reports of Beam workers.
_SPLITS_SUBDIR = 'splits'  # `<manual_dir>/splits/<cohort>/*.txt` if present.


@dataclasses.dataclass
class NsrrConfig(tfds.core.BuilderConfig):
  """Builder config; pass a JSON of these fields to `tfds build --config=`.

  Attributes:
    split_dir: folder of split lists `<cohort>/{train,val,test}.txt`. Default:
      `<manual_dir>/splits` if it exists, else a deterministic split by
      participant in the paper's proportions.
    max_hours: nights are cropped to this length (stored unpadded).
    signals: canonical signals stored per example.
    aliases: canonical name -> extra EDF channel labels (tried last).
    replace_aliases: use `aliases` instead of the default labels.
    split_sizes: (train, validation, test) proportions of the deterministic split.
    allow_truncated: keep the complete records of truncated EDFs.
    exclude_sleep_wake_only: skip nights without N1, N3 and REM.
    preprocessing: 'wav2sleep_jax' (ours) or 'reference' (`core.preprocessing`).
  """

  split_dir: str | None = None
  max_hours: float = 10.0
  signals: Sequence[str] = grid.CARDIORESPIRATORY
  aliases: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
  replace_aliases: bool = False
  split_sizes: Sequence[float] | None = None
  allow_truncated: bool = False
  exclude_sleep_wake_only: bool = True
  preprocessing: str = prep_lib.OURS


DEFAULT_CONFIG = NsrrConfig(
    name='default', description='ECG, PPG, ABD, THX at the model rates; nights up to 10 h.')
REFERENCE_CONFIG = NsrrConfig(
    name='reference',
    preprocessing=prep_lib.REFERENCE,
    description='ECG, PPG, ABD, THX as the reference (joncarter1/wav2sleep) prepares '
    'them: its units, linear interpolation onto a zero-filled 10-h grid.')


def manual_instructions(cohort: cohorts_lib.Cohort) -> str:
  """MANUAL_DOWNLOAD_INSTRUCTIONS for an NSRR cohort."""
  if cohort.layout == cohorts_lib.WSC_LAYOUT:
    layout = ('  **/<id>.edf with <id>.stg.txt (or <id>.allscore.txt) and '
              '<id>.log.txt beside it\n'
              '  e.g. polysomnography/wsc-visit1-10119-nsrr.edf')
  else:
    layout = ('  polysomnography/edfs/[<visit>/]<id>.edf\n'
              '  polysomnography/annotations-events-nsrr/[<visit>/]'
              '<id>-nsrr.xml')
  return (f'Download {cohort.name.upper()} from the NSRR ({cohort.homepage}; a '
          'data-use agreement is required) with the NSRR download tool, e.g.\n'
          f'  nsrr download {cohort.name}/polysomnography\n'
          f'and pass the cohort folder (or its parent) as --manual_dir. Layout:\n'
          f'{layout}\n'
          'Optionally put split lists in <manual_dir>/splits/'
          f'{cohort.name}/{{train,val,test}}.txt or pass split_dir.')


def _assemble(
    files: cohort_files.NightFiles, options: cohort_files.NightOptions
) -> tuple[str, dict[str, Any] | None, tuple[report_lib.SkipEntry, ...]]:
  """(key, example or None, report entries) of one night (Beam-friendly)."""
  result = cohort_files.assemble_night(files, cohorts_lib.get(files.cohort), options)
  example = (None if result.night is None else records_lib.to_example(result.night, options.signals,
                                                                      options.preprocessing))
  return files.record_id, example, result.entries


def _write_report_part(entries: list[report_lib.SkipEntry], path: str) -> None:
  epath.Path(path).parent.mkdir(parents=True, exist_ok=True)
  epath.Path(path).write_text(report_lib.SkipReport(entries).to_csv())


def _beam_examples(nights: Sequence[cohort_files.NightFiles], options: cohort_files.NightOptions,
                   report_path: str):
  """Beam PTransform: assembled examples; skip entries go to `report_path`."""
  beam = tfds.core.lazy_imports.apache_beam

  @beam.ptransform_fn
  def _build(pipeline):
    results = (
        pipeline
        | 'ListNights' >> beam.Create(list(nights))
        | 'Spread' >> beam.Reshuffle()
        | 'Assemble' >> beam.Map(_assemble, options))
    _ = (
        results
        | 'Entries' >> beam.FlatMap(lambda r: r[2])
        | 'Collect' >> beam.combiners.ToList()
        | 'WriteReport' >> beam.Map(_write_report_part, report_path))
    return (results | 'Examples' >> beam.FlatMap(lambda r: [] if r[1] is None else [(r[0], r[1])]))

  return _build()  # pylint: disable=no-value-for-parameter


class NothingBuiltError(ValueError):
  """Every night of every split was skipped (see the skip report)."""


# The file format of a new build unless `file_format=` says otherwise (TFDS's is tfrecord).
DEFAULT_FILE_FORMAT = 'array_record'


class NightsBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base builder: finds nights, splits them, assembles one example per night.

  Subclasses implement `_find_nights` (and may override `_plan_splits`).
  Constructor kwargs `split_dir`, `max_hours` and `aliases` override the
  config's values (they do not rename the config's data folder); a new build
  writes `DEFAULT_FILE_FORMAT` unless `file_format=` is given.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [DEFAULT_CONFIG, REFERENCE_CONFIG]

  def __init__(self,
               *,
               split_dir: str | None = None,
               max_hours: float | None = None,
               aliases: Mapping[str, Sequence[str]] | None = None,
               **kwargs):
    self._overrides = {
        k: v
        for k, v in (('split_dir', split_dir), ('max_hours', max_hours), ('aliases', aliases))
        if v is not None
    }
    self._use_beam = False
    self._report = report_lib.SkipReport()
    self.splits_left_out: tuple[str, ...] = ()  # Of the last build.
    super().__init__(**kwargs)
    if kwargs.get('file_format') is None and not self.is_prepared():
      # What training reads (`tfds.data_source`), also for a plain `tfds build`.
      self.info.set_file_format(DEFAULT_FILE_FORMAT, override=True)

  def _option(self, name: str) -> Any:
    return self._overrides.get(name, getattr(self.builder_config, name))

  @property
  def preprocessing(self) -> prep_lib.Preprocessing:
    if self.builder_config.preprocessing == prep_lib.REFERENCE:
      return prep_lib.reference(float(self._option('max_hours')))
    return prep_lib.from_name(self.builder_config.preprocessing)

  @property
  def night_options(self) -> cohort_files.NightOptions:
    return cohort_files.NightOptions(
        signals=tuple(self.builder_config.signals),
        max_hours=float(self._option('max_hours')),
        extra_aliases={
            k: tuple(v) for k, v in self._option('aliases').items()
        },
        replace_aliases=self.builder_config.replace_aliases,
        exclude_sleep_wake_only=self.builder_config.exclude_sleep_wake_only,
        allow_truncated=self.builder_config.allow_truncated,
        preprocessing=self.preprocessing,
        reference_join_order=reference_grid.TRAINING_COLUMN_ORDER)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=records_lib.night_features(self.builder_config.signals), homepage=self._homepage())

  def _homepage(self) -> str:
    return 'https://sleepdata.org'

  # --- Hooks ----------------------------------------------------------------

  def _find_nights(self,
                   dl_manager: tfds.download.DownloadManager) -> list[cohort_files.NightFiles]:
    raise NotImplementedError

  def _split_dir(self, dl_manager: tfds.download.DownloadManager) -> str | None:
    """The split-list folder: option, else `<manual_dir>/splits` if present."""
    split_dir = self._option('split_dir')
    if split_dir is None and dl_manager.manual_dir:
      default = epath.Path(dl_manager.manual_dir) / _SPLITS_SUBDIR
      split_dir = str(default) if default.is_dir() else None
    return split_dir

  def _plan_splits(self, nights: Sequence[cohort_files.NightFiles],
                   dl_manager: tfds.download.DownloadManager, cohort: str) -> splits_lib.SplitPlan:
    return splits_lib.plan_splits([n.record_id for n in nights],
                                  cohort,
                                  split_dir=self._split_dir(dl_manager),
                                  sizes=self.builder_config.split_sizes)

  # --- Generation -----------------------------------------------------------

  def _download_and_prepare(self, dl_manager, download_config):
    self._use_beam = (
        download_config.beam_options is not None or download_config.beam_runner is not None)
    self._report = report_lib.SkipReport()
    self.splits_left_out = ()
    try:
      super()._download_and_prepare(dl_manager, download_config)
    except BaseException:
      self._write_report(failed=True)
      raise
    self._write_report()

  def _split_generators(self, dl_manager):
    nights = self._unique(self._find_nights(dl_manager))
    plan = self._plan(nights, dl_manager)
    by_id = {n.record_id: n for n in nights}
    for split, missing in plan.missing.items():
      for rid in missing:
        self._report.add(rid, splits_lib.list_file_name(split), 'split',
                         'listed in the split list but not found in the '
                         'manual dir', report_lib.NIGHT_SKIPPED)
    logging.info('%s: %d nights found; %s; %s; %d found nights in no split list.', self.name,
                 len(nights), plan.source,
                 ', '.join(f'{s} {len(ids)}' for s, ids in plan.splits.items()), len(plan.unlisted))
    if not any(plan.splits.values()):
      raise FileNotFoundError(f'{self.name}: no nights to build in {dl_manager.manual_dir} '
                              f'({len(nights)} found; {plan.source}).')
    generators = {}
    for split, ids in plan.splits.items():
      examples = self._split_examples(split, tuple(by_id[r] for r in ids)) if ids else None
      if examples is not None:
        generators[split] = examples
      elif ids:
        self._leave_out(split, len(ids))
    if not generators:
      raise NothingBuiltError(f'{self.name}: every night of every split was skipped '
                              f'({self._report.summary_text()}); see the skip report.')
    return generators

  def _split_examples(self, split: str, nights: Sequence[cohort_files.NightFiles]):
    """The split's examples; None if every night is skipped.

    Assembles nights now up to the first kept one (TFDS cannot write an
    empty split, so an all-skipped split must be known before writing).
    """
    local = self._generate_local(split, nights, self.night_options)
    first = next(local, None)
    if first is None:
      return None  # Exhausted: its skip entries are in the report.
    if not self._use_beam:
      return itertools.chain([first], local)
    local.close()  # Beam assembles (and reports) every night again.
    return self._generate_examples(split=split, nights=nights)

  def _leave_out(self, split: str, count: int) -> None:
    reason = f'every night of split {split!r} was skipped ({count} nights)'
    logging.warning('%s: %s; the split is left out of the dataset (see %s.csv).', self.name, reason,
                    SKIP_REPORT_NAME)
    self._report.add(f'split:{split}', splits_lib.list_file_name(split), 'split', reason,
                     report_lib.SPLIT_LEFT_OUT)
    self.splits_left_out += (split,)

  def _plan(self, nights, dl_manager) -> splits_lib.SplitPlan:
    cohorts = sorted({n.cohort for n in nights})
    if len(cohorts) != 1:
      raise ValueError(f'{self.name}: expected one cohort, found {cohorts}.')
    return self._plan_splits(nights, dl_manager, cohorts[0])

  def _unique(self, nights: Sequence[cohort_files.NightFiles]) -> list[cohort_files.NightFiles]:
    """Drops (and reports) repeated record ids, keeping the first."""
    kept: dict[str, cohort_files.NightFiles] = {}
    for night in nights:
      if night.record_id in kept:
        self._report.add(night.record_id, night.edf, 'edf',
                         f'duplicate record id (also {kept[night.record_id].edf})',
                         report_lib.NIGHT_SKIPPED)
      else:
        kept[night.record_id] = night
    return list(kept.values())

  def _generate_examples(self, split: str, nights: Sequence[cohort_files.NightFiles]):
    options = self.night_options
    if self._use_beam:
      part = epath.Path(self.data_dir) / _REPORT_PARTS / f'{split}.csv'
      return _beam_examples(nights, options, str(part))
    return self._generate_local(split, nights, options)

  def _generate_local(self, split: str, nights: Sequence[cohort_files.NightFiles],
                      options: cohort_files.NightOptions) -> Iterator[tuple[str, dict[str, Any]]]:
    del split
    skipped = report_lib.SkipReport()
    for files in nights:
      key, example, entries = _assemble(files, options)
      skipped.extend(entries)
      if example is not None:
        yield key, example
    self._report.extend(skipped)

  def _write_report(self, failed: bool = False) -> None:
    """Merges the Beam parts, writes skipped.csv/json, logs the summary.

    A failed build's folder is deleted by TFDS: its report goes beside it,
    as `skipped-<version>-failed.csv/.json` (removed by the next success).
    """
    data_dir = epath.Path(self.data_dir)
    parts = data_dir / _REPORT_PARTS
    if parts.exists():
      for part in sorted(parts.glob('*.csv')):
        self._report.extend(report_lib.SkipReport.from_csv(part.read_text()))
      parts.rmtree()
    report = report_lib.SkipReport(
        sorted(self._report.entries, key=lambda e: (e.record_id, e.stage, e.reason)))
    failed_name = f'{SKIP_REPORT_NAME}-{self.version}-failed'
    target, name = ((data_dir.parent, failed_name) if failed else (data_dir, SKIP_REPORT_NAME))
    (target / f'{name}.csv').write_text(report.to_csv())
    (target / f'{name}.json').write_text(report.to_json())
    self._report = report
    if failed:
      logging.error('%s: build failed; %s; report: %s.csv/.json', self.name, report.summary_text(),
                    target / name)
      return
    for suffix in ('.csv', '.json'):  # A previous failure's report is superseded.
      stale = data_dir.parent / f'{failed_name}{suffix}'
      if stale.exists():
        stale.unlink()
    written = sum(s.num_examples for s in self.info.splits.values())
    left_out = (f'; splits left out (every night skipped): '
                f'{", ".join(self.splits_left_out)}' if self.splits_left_out else '')
    log = logging.warning if self.splits_left_out else logging.info
    log('%s: %d nights written%s; %s; report: %s.csv/.json', self.name, written, left_out,
        report.summary_text(), SKIP_REPORT_NAME)


class NsrrBuilder(NightsBuilder, skip_registration=True):
  """Builder of one NSRR cohort laid out as the NSRR download tool writes it."""

  COHORT: cohorts_lib.Cohort

  def _homepage(self) -> str:
    return self.COHORT.homepage

  def _find_nights(self, dl_manager):
    return cohort_files.find_nights(dl_manager.manual_dir, self.COHORT)

  def _plan(self, nights, dl_manager):
    return self._plan_splits(nights, dl_manager, self.COHORT.name)
