"""hf://namespace/name[@revision] models, served by a loopback fake Hub (no network)."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from wav2sleep_jax.core import cli
from wav2sleep_jax.inference import model as model_lib
from wav2sleep_jax.models import hub_client as hub
from wav2sleep_jax.models import io as model_io
from tests import hub_server
from tests import predict_testutil as util
from tests.conftest import REPO_ROOT, require_shared
from tests.model_testutil import random_signals, tiny_config

REFERENCE = ('fixtures', 'reference_predict', 'model_cardiorespiratory')
FAKE_REFERENCE = {
    'config.yaml': b'num_classes: 4\n',
    'state_dict.pth': b'\x01' * 70_000,
    'README.md': b'# fake\n'
}


@pytest.fixture
def fake_hub():
  with hub_server.FakeHub() as server:
    yield server


@pytest.fixture
def hf_home(tmp_path):
  return tmp_path / 'hf'


@pytest.fixture
def client(fake_hub, hf_home, monkeypatch):
  hub_server.point_client(monkeypatch, fake_hub.endpoint, hf_home)
  return fake_hub


def _files(folder: pathlib.Path) -> dict[str, bytes]:
  return {
      p.relative_to(folder).as_posix(): p.read_bytes()
      for p in sorted(folder.rglob('*'))
      if p.is_file()
  }


@pytest.fixture(scope='module')
def own_model(tmp_path_factory) -> pathlib.Path:
  """A tiny wav2sleep_jax checkpoint (ECG + THX)."""
  cfg = tiny_config(signals=('ECG', 'THX'))
  path = tmp_path_factory.mktemp('own') / 'model'
  model_io.save_model(path, cfg, model_io.init_params(cfg, seed=3))
  return path


def _blob(snapshot: pathlib.Path, name: str) -> pathlib.Path:
  return (snapshot / name).resolve()


@pytest.mark.parametrize('uri, expected', [
    ('hf://joncarter/wav2sleep', ('joncarter/wav2sleep', None)),
    ('hf://joncarter/wav2sleep-eog@main', ('joncarter/wav2sleep-eog', 'main')),
    ('hf://a_b/c.d@refs/pr/1', ('a_b/c.d', 'refs/pr/1')),
    ('hf://ns/m@' + 'a' * 40, ('ns/m', 'a' * 40)),
])
def test_parse_hub_uri(uri, expected):
  assert hub.is_hub_uri(uri)
  assert hub.parse_hub_uri(uri) == expected


@pytest.mark.parametrize('uri', [
    'hf://', 'hf://name', 'hf://a/b/c', 'hf://a/b@', 'hf://a/-b', 'hf://a/b c', 'hf://a/b@x y',
    'hf://a--b/c', 'hf:/a/b'
])
def test_malformed_uris_are_refused(uri):
  with pytest.raises(cli.InputError, match='expected hf://namespace/name'):
    hub.parse_hub_uri(uri)
  assert not hub.is_hub_uri('models/a/b') and not hub.is_hub_uri(pathlib.Path('hf://a/b'))


def test_reference_model_from_hub_equals_local(client):
  folder = require_shared(*REFERENCE)
  commit = client.add_repo('joncarter/wav2sleep', {**_files(folder), 'README.md': b'# card\n'})
  remote = model_lib.load_model('hf://joncarter/wav2sleep')
  local = model_lib.load_model(folder)
  assert remote.hub == hub.HubModel('hf://joncarter/wav2sleep', 'joncarter/wav2sleep', None, commit,
                                    remote.hub.local_dir)
  assert remote.hub.local_dir.name == commit and remote.hub.model_commit.endswith('@' + commit)
  assert local.hub is None
  x = random_signals(local.signals, batch=1, epochs=8, seed=1)
  np.testing.assert_array_equal(remote.logits(x, normalize=True), local.logits(x, normalize=True))


def test_revisions_branch_and_commit(client):
  main = client.add_repo('ns/m', FAKE_REFERENCE)
  dev = client.add_commit(
      'ns/m', {
          **FAKE_REFERENCE, 'config.yaml': b'num_classes: 5\n'
      }, branch='dev')
  assert hub.download('hf://ns/m').commit == main
  got = hub.download('hf://ns/m@dev')
  assert (got.revision, got.commit) == ('dev', dev)
  assert (got.local_dir / 'config.yaml').read_bytes() == b'num_classes: 5\n'
  pinned = hub.download(f'hf://ns/m@{main}')
  assert (pinned.revision, pinned.commit) == (main, main)
  assert (pinned.local_dir / 'config.yaml').read_bytes() == b'num_classes: 4\n'


def test_own_format_from_hub_and_offline_reload(client, own_model, hf_home, monkeypatch):
  commit = client.add_repo('ns/own', {**_files(own_model), 'other/big.bin': b'x' * 10})
  remote = model_lib.load_model('hf://ns/own')
  assert remote.hub.commit == commit
  assert not (remote.hub.local_dir / 'other').exists()  # Only the model's files.
  local = model_lib.load_model(own_model)
  x = random_signals(local.signals, batch=2, epochs=4)
  np.testing.assert_array_equal(remote.logits(x), local.logits(x))

  client.stop()
  hub_server.point_client(monkeypatch, None, hf_home, offline=True)
  seen = len(client.requests)
  again = model_lib.load_model('hf://ns/own')
  assert again.hub == remote.hub and len(client.requests) == seen
  np.testing.assert_array_equal(again.logits(x), local.logits(x))


def test_corrupt_cached_blob_is_downloaded_again_or_refused(client, hf_home, monkeypatch):
  client.add_repo('ns/m', FAKE_REFERENCE)
  first = hub.download('hf://ns/m')
  lfs, small = _blob(first.local_dir, 'state_dict.pth'), _blob(first.local_dir, 'config.yaml')
  assert len(lfs.name) == 64 and len(small.name) == 40  # sha256 (LFS), git blob sha1.
  with open(lfs, 'r+b') as f:
    f.truncate(1000)
  small.write_bytes(b'num_classes: 6\n')
  gets = lambda: sum(m == 'GET' and '/resolve/' in p for m, p in client.requests)
  before = gets()
  again = hub.download('hf://ns/m')
  assert again == first and gets() == before + 2
  assert (again.local_dir / 'state_dict.pth').read_bytes() == FAKE_REFERENCE['state_dict.pth']
  assert (again.local_dir / 'config.yaml').read_bytes() == FAKE_REFERENCE['config.yaml']

  with open(lfs, 'r+b') as f:
    f.truncate(10)
  client.stop()
  hub_server.point_client(monkeypatch, None, hf_home, offline=True)
  with pytest.raises(cli.InputError, match=r'ns/m: cached state_dict.pth is corrupt'):
    hub.download('hf://ns/m')
  assert not lfs.exists()  # Never used again.


# Through the command line: one `error:` line on stderr, exit 2. ------------------------------


def _predict(tmp_path, model, env, *args):
  inputs = tmp_path / 'night.edf'
  if not inputs.exists():
    util.write_short_edf(inputs)
  env = {k: v for k, v in os.environ.items() if not k.startswith('HF_')} | env
  return subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.predict', f'--model={model}', f'--input={inputs}',
      f'--output={tmp_path / "out"}', *args
  ],
                        cwd=REPO_ROOT,
                        capture_output=True,
                        text=True,
                        timeout=300,
                        env=env)


def _serve_error_repos(server):
  server.add_repo('ns/m', FAKE_REFERENCE)
  server.add_repo('ns/gated', FAKE_REFERENCE, gated=True, tokens=frozenset({'hf_good'}))
  server.add_repo('ns/private', FAKE_REFERENCE, private=True)
  server.add_repo('ns/empty', {'.gitattributes': b'*.bin lfs\n', 'weights.bin': b'\0' * 8})


ERROR_CASES = {
    'malformed': ('hf://ns', {}, ["'hf://ns' is not a Hub model"]),
    'unknown repo': ('hf://ns/nothing', {}, ['Hub model ns/nothing not found']),
    'unknown revision': ('hf://ns/m@v9', {}, ["ns/m has no revision 'v9'"]),
    'gated': ('hf://ns/gated', {}, ['ns/gated is gated', 'HF_TOKEN', 'hf auth login']),
    'gated, token refused': ('hf://ns/gated@main', {
        'token': 'hf_bad'
    }, ['ns/gated@main is gated']),
    'private': ('hf://ns/private', {}, ['ns/private not found (if it is private', 'HF_TOKEN']),
    'private, token refused': ('hf://ns/private', {
        'token': 'hf_bad'
    }, ['ns/private: access denied (HTTP 403)', 'HF_TOKEN']),
    'offline, not cached': ('hf://ns/m', {
        'offline': True
    }, ['ns/m is not in the cache', 'HF_HUB_OFFLINE']),
    'no connection': ('hf://ns/m', {
        'endpoint': None
    }, ['ns/m is not in the cache', 'no connection to http://127.0.0.1:9']),
    'no model in repo': ('hf://ns/empty', {}, ['ns/empty (commit ', 'no loadable model']),
}


@pytest.mark.parametrize('case', ERROR_CASES)
def test_predict_hub_errors_are_one_line(case, fake_hub, hf_home, tmp_path):
  _serve_error_repos(fake_hub)
  model, options, fragments = ERROR_CASES[case]
  options = dict(options)
  env = hub_server.client_env(options.pop('endpoint', fake_hub.endpoint), hf_home, **options)
  _assert_one_line_error(_predict(tmp_path, model, env), fragments)


def test_predict_refuses_corrupt_cache_offline(client, hf_home, tmp_path):
  client.add_repo('ns/m', FAKE_REFERENCE)
  with open(_blob(hub.download('hf://ns/m').local_dir, 'config.yaml'), 'r+b') as f:
    f.truncate(3)
  env = hub_server.client_env(None, hf_home, offline=True)
  _assert_one_line_error(
      _predict(tmp_path, 'hf://ns/m', env),
      ['ns/m: cached config.yaml is corrupt', 'HF_HUB_OFFLINE is set'])


def _assert_one_line_error(result, fragments):
  assert result.returncode == cli.EXIT_USAGE, (result.returncode, result.stderr[-3000:])
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])


def test_predict_records_the_commit(client, own_model, hf_home, tmp_path):
  commit = client.add_repo('ns/own', _files(own_model))
  util.write_table(tmp_path / 'in' / 'a.csv', util.table_signals(4, 32.0))
  env = hub_server.client_env(client.endpoint, hf_home)
  result = subprocess.run([
      sys.executable, '-m', 'wav2sleep_jax.predict', '--model=hf://ns/own@main',
      f'--input={tmp_path / "in"}', f'--output={tmp_path / "out"}', '--formats=csv,tsv,edf,xml,html'
  ],
                          cwd=REPO_ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env={
                              k: v for k, v in os.environ.items() if not k.startswith('HF_')
                          } | env)
  assert result.returncode == 0, result.stderr[-3000:]
  out, expected = tmp_path / 'out', f'ns/own@{commit}'
  with open(out / 'summary.csv', newline='') as f:
    assert [row['model_commit'] for row in csv.DictReader(f)] == [expected]
  assert json.loads((out / 'skipped.json').read_text())['run'] == {
      'model_commit': expected,
      'preprocessing': 'wav2sleep_jax'
  }
  report = (out / 'index.html').read_text()
  assert f'<dt>model_commit</dt><dd>{expected}</dd>' in report
  assert 'hf://ns/own@main' in report
