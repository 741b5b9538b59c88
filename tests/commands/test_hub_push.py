"""wav2sleep-hub push: a run or model folder onto a loopback fake Hub (no network), loaded back
through hf://."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import yaml

from wav2sleep_jax.core import cli
from wav2sleep_jax.core import preprocessing as prep_lib
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.inference import publishing
from wav2sleep_jax.models import hub_client as hub
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models import reference
from tests import hub_server
from tests.conftest import REPO_ROOT
from tests.model_testutil import random_signals, tiny_config

TOKEN = 'hf_owner'
TEST_TABLE = {
    'shhs': {
        'all available': {
            'kappa': 0.7123,
            'accuracy': 0.8,
            'nights': 10
        },
        'ECG+THX': {
            'kappa': 0.6512,
            'accuracy': 0.75,
            'nights': 9
        }
    },
    'mesa': {
        'all available': {
            'kappa': 0.6901,
            'accuracy': 0.78,
            'nights': 4
        },
        'ECG+THX': {
            'kappa': float('nan'),
            'accuracy': float('nan'),
            'nights': 0
        }
    },
}


@pytest.fixture
def fake_hub():
  with hub_server.FakeHub() as server:
    yield server


def _save(path: pathlib.Path, **overrides) -> pathlib.Path:
  cfg = tiny_config(signals=('ECG', 'THX'), **overrides)
  model_io.save_model(path, cfg, model_io.init_params(cfg, seed=5))
  return path


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory) -> pathlib.Path:
  """A training run's WORKDIR without training: model/, metrics.json, config.json."""
  workdir = tmp_path_factory.mktemp('runs') / 'tiny_run'
  _save(workdir / 'model')
  (workdir / 'metrics.json').write_text(json.dumps({'step': 10, 'test': TEST_TABLE}))
  (workdir / 'config.json').write_text('{}')
  return workdir


def _push(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if not k.startswith('HF_')} | env
  return subprocess.run([sys.executable, '-m', 'wav2sleep_jax.hub', *map(str, args)],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300,
                        env=env)


def _assert_one_line_error(result, *fragments):
  assert result.returncode == cli.EXIT_USAGE, (result.returncode, result.stderr[-3000:])
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def _front_matter(card: str) -> dict:
  assert card.startswith('---\n')
  return yaml.safe_load(card[4:].split('\n---\n', 1)[0])


def test_push_run_then_load_from_hub(fake_hub, run_dir, tmp_path, monkeypatch):
  env = hub_server.client_env(fake_hub.endpoint, tmp_path / 'push_home', token=TOKEN)
  result = _push(env, 'push', run_dir, 'ns/sleep', '--message=first model')
  assert result.returncode == 0, result.stderr[-3000:]
  repo = fake_hub.repos['ns/sleep']
  commit = repo.refs['main']
  assert f'{fake_hub.endpoint}/ns/sleep' in result.stdout and commit in result.stdout
  assert repo.messages == {commit: 'first model'} and repo.write_tokens == {TOKEN}
  files = repo.commits[commit]
  assert {'README.md', 'model_config.json', 'preprocessing.json'} <= set(files)
  assert any(p.startswith('params/') for p in files) and 'config.yaml' not in files

  hub_server.point_client(monkeypatch, fake_hub.endpoint, tmp_path / 'load_home')
  remote = model_lib.load_model('hf://ns/sleep')
  local = model_lib.load_model(run_dir / 'model')
  assert remote.hub.commit == commit
  x = random_signals(local.signals, batch=1, epochs=4, seed=2)
  np.testing.assert_array_equal(remote.logits(x), local.logits(x))

  card = (remote.hub.local_dir / 'README.md').read_text()
  meta = _front_matter(card)
  assert meta['license'] == 'mit' and meta['library_name'] == 'wav2sleep_jax'
  assert set(publishing.TAGS) <= set(meta['tags']) and meta['pipeline_tag'] == 'other'
  assert meta['datasets'] == ['shhs', 'mesa']
  assert '| test inputs | SHHS | MESA |' in card
  assert '| all available | 0.712 (n=10) | 0.690 (n=4) |' in card
  assert '| ECG + THX | 0.651 (n=9) | – |' in card
  assert '| ECG | 1024 | 34.13 |' in card and '| THX | 256 | 8.53 |' in card
  assert '0 Wake, 1 Light, 2 Deep, 3 REM.' in card and '`wav2sleep_jax`:' in card
  assert "wav2sleep_jax.load_model('hf://ns/sleep')" in card
  assert '--model=hf://ns/sleep' in card and 'from wav2sleep import' not in card


def test_reference_format_on_a_branch(fake_hub, run_dir, tmp_path, monkeypatch):
  env = hub_server.client_env(fake_hub.endpoint, tmp_path / 'push_home', token=TOKEN)
  result = _push(env, 'push', run_dir / 'model', 'ns/both', '--reference_format', '--revision=dev',
                 '--private')
  assert result.returncode == 0, result.stderr[-3000:]
  repo = fake_hub.repos['ns/both']
  assert repo.private and set(repo.refs) == {'main', 'dev'}
  assert 'README.md' not in repo.commits[repo.refs['main']]  # Only the branch got the model.

  hub_server.point_client(monkeypatch, fake_hub.endpoint, tmp_path / 'load_home', token=TOKEN)
  got = hub.download('hf://ns/both@dev')
  assert (got.local_dir / 'config.yaml').is_file() and (got.local_dir / 'state_dict.pth').is_file()
  cfg, params = model_io.load_model_checkpoint(run_dir / 'model')
  ref_cfg, ref_params = reference.load_reference(got.local_dir)
  assert ref_cfg.signals == cfg.signals and ref_cfg.num_classes == cfg.num_classes
  flat = lambda tree: {'/'.join(map(str, k)): np.asarray(v) for k, v in _leaves(tree)}
  ours, theirs = flat(params), flat(ref_params)
  assert ours.keys() == theirs.keys()
  for key, value in ours.items():
    np.testing.assert_array_equal(theirs[key], value, err_msg=key)
  card = (got.local_dir / 'README.md').read_text()
  assert "from wav2sleep import load_model\nmodel = load_model('hf://ns/both')" in card
  loaded = model_lib.load_model('hf://ns/both@dev')  # Our format is loaded first.
  assert loaded.config == cfg and loaded.preprocessing == prep_lib.Preprocessing()

  # A push without the reference format removes the earlier reference files.
  commit = publishing.push(run_dir / 'model', 'ns/both', revision='dev')
  assert repo.refs['dev'] == commit
  assert not {'config.yaml', 'state_dict.pth'} & set(repo.commits[commit])
  assert 'model_config.json' in repo.commits[commit]


def _leaves(tree):
  import jax  # pylint: disable=import-outside-toplevel

  return [(tuple(getattr(k, 'key', k)
                 for k in path), leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


def test_inexpressible_model_is_refused_before_any_upload(fake_hub, tmp_path):
  model = _save(tmp_path / 'maxpool', encoder_downsample='maxpool')
  env = hub_server.client_env(fake_hub.endpoint, tmp_path / 'home', token=TOKEN)
  result = _push(env, 'push', model, 'ns/maxpool', '--reference_format')
  _assert_one_line_error(
      result, "encoder_downsample='maxpool' cannot be written as a "
      'reference checkpoint')
  assert fake_hub.requests == [] and fake_hub.repos == {}


@pytest.mark.parametrize('token', [None, 'hf_wrong'])
def test_push_to_a_protected_repo_needs_its_token(fake_hub, run_dir, tmp_path, token):
  commit = fake_hub.add_repo(
      'ns/protected', {'README.md': b'# theirs\n'}, write_tokens=frozenset({TOKEN}))
  env = hub_server.client_env(fake_hub.endpoint, tmp_path / 'home', token=token)
  result = _push(env, 'push', run_dir, 'ns/protected')
  _assert_one_line_error(result, 'Hub repo ns/protected: push refused (HTTP 401)', 'HF_TOKEN')
  assert fake_hub.repos['ns/protected'].refs == {'main': commit}


@pytest.mark.parametrize('args, fragment', [
    (('pull', 'RUN', 'ns/x'), "unknown action 'pull'"),
    (('push', 'RUN'), 'push takes RUN_OR_MODEL and namespace/name'),
    (('push', '{run}', 'ns/x@v1'), "'ns/x@v1' is not a Hub repo"),
    (('push', '{tmp}', 'ns/x'), 'is neither a training run'),
])
def test_usage_errors(args, fragment, run_dir, tmp_path):
  args = [a.format(run=run_dir, tmp=tmp_path) for a in args]
  _assert_one_line_error(_push(hub_server.client_env(None, tmp_path / 'home'), *args), fragment)
