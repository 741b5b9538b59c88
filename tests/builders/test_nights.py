"""Night assembly against the generator's ground truth; builder options."""

import datetime
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests import conftest
from wav2sleep_jax.builders import nsrr_builder
from tfds_builders.shhs import shhs_dataset_builder
from wav2sleep_jax import synthetic
from wav2sleep_jax.core import signals as grid
from wav2sleep_jax.data import records
from wav2sleep_jax.psg import cohort_files
from wav2sleep_jax.psg import cohorts
from wav2sleep_jax.psg import splits

_DUMMY = pathlib.Path(__file__).resolve().parents[2] / 'tfds_builders'


def _assemble(root, cohort, **options):
  found = cohort_files.find_nights(root, cohorts.get(cohort))
  return [
      cohort_files.assemble_night(f, cohorts.get(cohort), cohort_files.NightOptions(**options))
      for f in found
  ]


@pytest.mark.parametrize('cohort', ['mesa', 'shhs', 'wsc', 'chat'])
def test_assembled_night_matches_generator(tmp_path, cohort):
  synthetic.write_cohort(cohort, 1, str(tmp_path), seed=3, hours=0.2)
  truth = synthetic.generate_night(cohort, seed=3, night_index=0, hours=0.2)
  (result,) = _assemble(tmp_path, cohort)
  night = result.night
  assert night is not None and result.entries == ()
  assert night.record_id == truth.record_id
  np.testing.assert_array_equal(night.labels, truth.labels)
  assert night.start_time == truth.start_time.isoformat()
  has_ppg = cohort in ('mesa', 'chat')
  assert set(night.signals) == {'ECG', 'ABD', 'THX'} | ({'PPG'} if has_ppg else set())
  sources = {c.source: c for c in truth.channels.values()}
  for name, data in night.signals.items():
    assert data.shape == (24 * grid.SAMPLES_PER_EPOCH[name],)
    assert night.native_rate_hz[name] == sources[name].rate
    assert night.units[name] == sources[name].unit
    # Anti-aliased resampling keeps the band-limited signal (ECG loses some QRS power).
    native = sources[name].data.astype(np.float64)
    assert 0.85 < data.std() / native.std() < 1.02, name
    if name in ('ABD', 'THX'):  # Slow belts: close to plain interpolation.
      t = np.arange(data.size) / grid.sample_rate_hz(name)
      ref = np.interp(t, np.arange(native.size) / sources[name].rate, native)
      assert np.corrcoef(data, ref)[0, 1] > 0.99, name


def test_wsc_allscore_and_log_start(tmp_path):
  synthetic.write_cohort('wsc', 1, str(tmp_path), seed=1, hours=0.2)
  truth = synthetic.generate_night('wsc', seed=1, night_index=0, hours=0.2)
  stg = next(tmp_path.rglob('*.stg.txt'))
  log = next(tmp_path.rglob('*.log.txt'))
  # A log whose start does not match the EDF's is an annotation error.
  text = log.read_text()
  log.write_text(text.replace('Recording Started', 'Other'))
  (result,) = _assemble(tmp_path, 'wsc')
  assert result.night is None and "no 'Recording Started'" in result.entries[0].reason
  log.write_text(text)
  stg.unlink()  # Falls back to the allscore file.
  (result,) = _assemble(tmp_path, 'wsc')
  np.testing.assert_array_equal(result.night.labels, truth.labels)


def test_max_hours_crops_and_signal_options(tmp_path):
  synthetic.write_cohort('mesa', 1, str(tmp_path), seed=0, hours=0.5)
  (result,) = _assemble(tmp_path, 'mesa', max_hours=0.25, signals=('ECG', 'EOG-L', 'EOG-R'))
  night = result.night
  assert night.num_epochs == 30
  assert night.signals['EOG-L'].shape == (30 * 4096,)
  example = records.to_example(night, ('ECG', 'PPG', 'EOG-L', 'EOG-R'))
  assert set(example['signals']) == {'ECG', 'PPG', 'EOG_L', 'EOG_R'}
  assert not example['present']['PPG'] and example['signals']['PPG'].shape == (0,)


def test_alias_override_finds_renamed_channel(tmp_path):
  night = synthetic.generate_night('mesa', seed=0, night_index=0, hours=0.1)
  channels = {('ECGx' if k == 'EKG' else k): c for k, c in night.channels.items()}
  night = night.__class__(**{**night.__dict__, 'channels': channels})
  synthetic.writers.write_night(night, str(tmp_path))
  (result,) = _assemble(tmp_path, 'mesa')
  assert 'ECG' not in result.night.signals
  (result,) = _assemble(tmp_path, 'mesa', extra_aliases={'ECG': ('ECGx',)})
  assert 'ECG' in result.night.signals
  (result,) = _assemble(tmp_path, 'mesa', extra_aliases={'THX': ('Nope',)}, replace_aliases=True)
  assert 'THX' not in result.night.signals


def test_builder_kwargs_override_config(tmp_path):
  builder = shhs_dataset_builder.Builder(
      data_dir=str(tmp_path), max_hours=0.025, split_dir=str(tmp_path / 'none'))
  assert builder.night_options.max_hours == 0.025
  assert builder.builder_config is nsrr_builder.DEFAULT_CONFIG


def test_builder_with_shared_split_lists(tmp_path):
  split_dir = conftest.require_shared('data', 'splits')
  lists = splits.read_split_lists(split_dir, 'shhs')
  builder = shhs_dataset_builder.Builder(data_dir=str(tmp_path), split_dir=str(split_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(_DUMMY / 'shhs' / 'dummy_data')),
      file_format='array_record')
  built = builder.as_data_source()
  dummy = {
      f.record_id
      for f in cohort_files.find_nights(_DUMMY / 'shhs' / 'dummy_data', cohorts.get('shhs'))
  }
  for split, ids in lists.items():
    expected = sorted(dummy.intersection(ids))
    got = sorted(built[split][i]['record_id'].decode()
                 for i in range(len(built[split]))) if split in built else []
    assert got == expected, split
  report = (pathlib.Path(builder.data_dir) / 'skipped.csv').read_text()
  missing = sum(len(set(ids) - dummy) for ids in lists.values())
  assert report.count('listed in the split list but not found') == missing


def test_every_stored_feature_is_documented():
  features = records.night_features(('ECG', 'EOG-L'))
  undocumented = [key for key, feature in features.items() if not feature.doc.desc]
  for group in records.PER_SIGNAL:
    undocumented += [f'{group}/{k}' for k, f in features[group].items() if not f.doc.desc]
  assert not undocumented
  assert records.TOP_KEYS == tuple(features.keys())
