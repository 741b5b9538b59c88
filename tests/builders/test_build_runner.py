"""The build library: dependency direction, in-process demo builds, thin CLI and templates."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

from ml_collections import ConfigDict

from wav2sleep_jax.builders import build_runner
from wav2sleep_jax.builders import nsrr_builder
from wav2sleep_jax.data import pipeline
from wav2sleep_jax.training import demo_data

_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _imported_modules(path: pathlib.Path) -> set[str]:
  names = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.add(node.module)
  return names


def test_the_package_never_imports_the_builders_or_runs_their_cli():
  offenders = []
  for path in sorted((_ROOT / 'wav2sleep_jax').rglob('*.py')):
    if any(m.split('.')[0] == 'tfds_builders' for m in _imported_modules(path)):
      offenders.append(f'{path.relative_to(_ROOT)} imports tfds_builders')
    if "'tfds_builders.build'" in path.read_text():
      offenders.append(f'{path.relative_to(_ROOT)} runs the tfds_builders CLI')
  assert not offenders


def test_template_builders_are_thin_subclasses_of_the_library():
  folders = sorted(p.parent for p in (_ROOT / 'tfds_builders').glob('*/*_dataset_builder.py'))
  assert len(folders) == 13  # 7 NSRR cohorts, census, synthetic, 4 open datasets.
  for folder in folders:
    module = folder / f'{folder.name}_dataset_builder.py'
    assert {m for m in _imported_modules(module) if m.startswith('wav2sleep_jax.builders')}, module
    assert (folder / 'dummy_data').is_dir() and (folder / 'CITATIONS.bib').is_file(), folder


def _cohort(name: str, nights: int = 4) -> ConfigDict:
  return ConfigDict(
      dict(
          name=name,
          layout='shhs',
          nights=nights,
          hours=0.15,
          seed=3,
          split_sizes=(0.5, 0.25, 0.25)))


def test_demo_data_is_built_in_process_and_reused(tmp_path, monkeypatch):

  def no_subprocess(*args, **kwargs):
    raise AssertionError(f'subprocess started: {args}')

  monkeypatch.setattr(subprocess, 'Popen', no_subprocess)
  before = set(sys.modules)
  config = ConfigDict(dict(data_dir='', synthetic_cohorts=[_cohort('demo_tiny')]))
  data_dir = demo_data.prepare(config, tmp_path)
  assert data_dir == str(tmp_path / 'data')
  assert not {m for m in set(sys.modules) - before if m.startswith('tfds_builders')}
  source = pipeline.load_source('synthetic/demo_tiny', 'train', data_dir)
  assert len(source) == 2 and source[0]['cohort'] == b'shhs'
  assert not source[0]['present']['PPG']
  info = next((tmp_path / 'data' / 'synthetic' / 'demo_tiny').glob('*/dataset_info.json'))
  stamp = info.stat().st_mtime_ns
  demo_data.prepare(config, tmp_path)  # Reused, not rebuilt.
  assert info.stat().st_mtime_ns == stamp


def test_build_prepares_a_builder_without_tensorflow(tmp_path):
  from wav2sleep_jax.builders import synthetic_builder
  config = synthetic_builder.SyntheticConfig(
      name='one', cohort_layout='mesa', hours=0.1, num_nights=2, split_sizes=(1, 0, 0))
  builder = synthetic_builder.SyntheticBuilder(
      config=config, data_dir=str(tmp_path), file_format='array_record')
  assert build_runner.build(builder) == ()
  assert {s: i.num_examples for s, i in builder.info.splits.items()} == {'train': 2}
  assert (pathlib.Path(builder.data_dir) / f'{nsrr_builder.SKIP_REPORT_NAME}.csv').is_file()
  assert 'tensorflow' not in sys.modules


def test_cli_refuses_what_it_does_not_implement_on_one_line(tmp_path):
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  for flag, message in (('--download_only', 'error: --download_only is not supported'),
                        ('--config_idx=9', 'error: --config_idx 9: synthetic has 2 configs.')):
    res = subprocess.run(
        [sys.executable, '-m', 'tfds_builders.build', 'synthetic', flag, f'--data_dir={tmp_path}'],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.strip().splitlines()[-1].startswith(message), res.stderr[-3000:]
    assert 'Traceback' not in res.stderr
  assert not list(tmp_path.iterdir())  # Nothing built.
