"""torch-free state dict reading / writing: equal to torch.load, safe, strict."""

from __future__ import annotations

import collections
import pickle
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from wav2sleep_jax.core import cli
from wav2sleep_jax.models import reference
from wav2sleep_jax.models import torch_state_dict as tsd
from tests.conftest import REPO_ROOT, require_shared

FIXTURE_MODELS = ('model_cardiorespiratory', 'model_eog')


def _torch():
  return pytest.importorskip('torch', reason="comparing with torch needs the 'torch' extra")


def _as_numpy(tensor) -> np.ndarray:
  torch = _torch()
  if tensor.dtype == torch.bfloat16:
    tensor = tensor.float()  # Exact: bfloat16 is the high half of a float32.
  return tensor.numpy()


def _assert_same(ours: dict, theirs: dict) -> None:
  assert list(ours) == list(theirs)
  for key, tensor in theirs.items():
    expected = _as_numpy(tensor)
    assert ours[key].dtype == expected.dtype, key
    assert ours[key].shape == expected.shape, key
    np.testing.assert_array_equal(ours[key], expected, err_msg=key)


def test_reads_what_torch_saves(tmp_path):
  torch = _torch()
  gen = torch.Generator().manual_seed(0)
  base = torch.randn(5, 6, generator=gen)
  shared = torch.arange(24, dtype=torch.float32)
  state = collections.OrderedDict([
      ('float32', torch.randn(2, 3, 4, generator=gen)),
      ('float64', torch.randn(3, generator=gen, dtype=torch.float64)),
      ('float16', torch.randn(4, 2, generator=gen).half()),
      ('bfloat16', torch.randn(7, generator=gen).to(torch.bfloat16)),
      ('int64', torch.arange(-3, 9).reshape(3, 4)),
      ('int32', torch.tensor([1, -2, 3], dtype=torch.int32)),
      ('uint8', torch.tensor([0, 255], dtype=torch.uint8)),
      ('bool', torch.tensor([[True, False]])),
      ('scalar', torch.tensor(7)),
      ('empty', torch.zeros(0, 3)),
      ('transposed', base.t()),
      ('offset_slice', base[2:, 1::2]),
      ('shared_a', shared[:12].view(3, 4)),
      ('shared_b', shared[6:].view(2, 9).t()),
      ('expanded', torch.randn(3, 1, generator=gen).expand(3, 4)),
  ])
  path = tmp_path / 'sd.pth'
  torch.save(state, path)
  theirs = torch.load(path, weights_only=True)
  assert theirs['transposed'].stride() == (1, 6)  # Saved as a view, not a copy.
  assert theirs['offset_slice'].storage_offset() == 13
  ours = tsd.read_state_dict(path)
  _assert_same(ours, theirs)
  for key, value in ours.items():
    assert value.flags.c_contiguous and value.flags.writeable, key  # Copies, not views.
  # A plain dict and a module's state dict (with its _metadata) read the same way.
  torch.save(dict(state), path)
  _assert_same(tsd.read_state_dict(path), torch.load(path, weights_only=True))
  module = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.BatchNorm1d(3))
  torch.save(module.state_dict(), path)
  _assert_same(tsd.read_state_dict(path), torch.load(path, weights_only=True))


def test_reads_saved_parameters(tmp_path):
  torch = _torch()
  param = torch.nn.Parameter(torch.randn(3, 2))
  torch.save({'p': param}, tmp_path / 'p.pth')
  np.testing.assert_array_equal(
      tsd.read_state_dict(tmp_path / 'p.pth')['p'],
      param.detach().numpy())


@pytest.mark.parametrize('model', FIXTURE_MODELS)
def test_reads_the_reference_fixtures(model):
  torch = _torch()
  path = require_shared('fixtures', 'reference_predict', model, 'state_dict.pth')
  _assert_same(tsd.read_state_dict(path), torch.load(path, weights_only=True))


def test_reads_big_endian_archives(tmp_path):
  values = {'w': np.arange(6, dtype=np.float32).reshape(2, 3), 'n': np.array([1, -2], np.int64)}
  little = tmp_path / 'little.pth'
  tsd.write_state_dict(little, values)
  big = tmp_path / 'big.pth'
  with zipfile.ZipFile(little) as src, zipfile.ZipFile(big, 'w') as dst:
    for name in src.namelist():
      data = src.read(name)
      if name.endswith('/byteorder'):
        data = b'big'
      elif name.endswith('/data/0'):
        data = values['w'].astype('>f4').tobytes()
      elif name.endswith('/data/1'):
        data = values['n'].astype('>i8').tobytes()
      dst.writestr(name, data)
  read = tsd.read_state_dict(big)
  for key, value in values.items():
    assert read[key].dtype == value.dtype
    np.testing.assert_array_equal(read[key], value)


# ----------------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------------


def _zip(path, entries: dict[str, bytes]):
  with zipfile.ZipFile(path, 'w') as archive:
    for name, data in entries.items():
      archive.writestr(name, data)
  return path


def _malicious_pickle(module: str, name: str, argument: str) -> bytes:
  """Protocol-2 opcodes: GLOBAL module.name, then REDUCE it on (argument,)."""
  arg = argument.encode()
  return (b'\x80\x02c' + f'{module}\n{name}\n'.encode() + b'(X' + struct.pack('<I', len(arg)) +
          arg + b'tR.')


@pytest.mark.parametrize('module, name', [('os', 'system'), ('posix', 'system'),
                                          ('builtins', 'eval'), ('builtins', 'exec')])
def test_malicious_pickles_are_refused_before_running(tmp_path, module, name):
  marker = tmp_path / 'pwned'
  command = (f"open({str(marker)!r}, 'w').close()" if module == 'builtins' else f'touch {marker}')
  payload = _malicious_pickle(module, name, command)
  path = _zip(tmp_path / 'evil.pth', {'archive/data.pkl': payload, 'archive/version': b'3\n'})
  with pytest.raises(
      tsd.StateDictError, match=rf'^{path}: .*refused pickle global {module}\.{name}'):
    tsd.read_state_dict(path)
  assert not marker.exists()
  with pytest.raises(reference.ConversionError, match=rf'refused pickle global {module}\.{name}'):
    reference._read_state_dict(path)  # pylint: disable=protected-access
  assert not marker.exists()


def test_payload_would_run_without_the_allowlist(tmp_path):
  """The malicious payload above is live: plain pickle runs it (so the refusal matters)."""
  marker = tmp_path / 'ran'
  pickle.loads(_malicious_pickle('builtins', 'eval', f"open({str(marker)!r}, 'w').close()"))
  assert marker.exists()


def _good_file(tmp_path):
  path = tmp_path / 'good.pth'
  tsd.write_state_dict(path, {'w': np.arange(8, dtype=np.float32)})
  return path


def _edited(tmp_path, edit) -> str:
  """A copy of a good file whose entries went through edit({name: bytes})."""
  with zipfile.ZipFile(_good_file(tmp_path)) as archive:
    entries = {n: archive.read(n) for n in archive.namelist()}
  return _zip(tmp_path / 'edited.pth', edit(entries))


def _bytes(path, data: bytes):
  path.write_bytes(data)
  return path


@pytest.mark.parametrize(
    'make, message',
    [
        (lambda d: _bytes(d / 'x.pth', b'not a torch file'), 'BadZipFile'),
        (lambda d: _bytes(d / 'x.pth', pickle.dumps({'w': [1.0]})), 'BadZipFile'),  # Legacy format.
        (lambda d: _bytes(d / 'x.pth',
                          _good_file(d).read_bytes()[:300]), 'BadZipFile'),
        (lambda d: _zip(d / 'x.pth', {'archive/version': b'3\n'}), 'no <archive>/data.pkl'),
        (lambda d: _zip(d / 'x.pth', {'data.pkl': b'\x80\x02}.'}), 'no <archive>/data.pkl'),
        (lambda d: _edited(d, lambda e: {
            k: v for k, v in e.items() if k != 'archive/data/0'
        }), 'missing storage entry archive/data/0'),
        (lambda d: _edited(d, lambda e: {
            **e, 'archive/data/0': e['archive/data/0'][:12]
        }), 'has 12 bytes, 8 FloatStorage elements need 32'),
        (lambda d: _edited(d, lambda e: {
            **e, 'archive/byteorder': b'middle'
        }), "unknown byteorder 'middle'"),
        (lambda d: _edited(d, lambda e: {
            **e, 'archive/data.pkl': b'\x80\x02]q\x00.'
        }), 'flat mapping of names to tensors'),
        (lambda d: _edited(d, lambda e: {
            **e, 'archive/data.pkl': e['archive/data.pkl'][:40]
        }), 'UnpicklingError|EOFError'),
    ],
    ids=[
        'garbage', 'legacy-pickle', 'truncated', 'no-pickle', 'no-folder', 'no-storage',
        'short-storage', 'byteorder', 'not-a-dict', 'truncated-pickle'
    ])
def test_broken_files_give_one_line_errors(tmp_path, make, message):
  path = make(tmp_path)
  with pytest.raises(tsd.StateDictError) as info:
    tsd.read_state_dict(path)
  text = str(info.value)
  assert isinstance(info.value, cli.InputError)
  assert text.startswith(f'{path}: ') and '\n' not in text, text
  assert re.search(message, text), text
  with pytest.raises(reference.ConversionError, match=f'^{path}: '):
    reference._read_state_dict(path)  # pylint: disable=protected-access


def test_tensor_past_its_storage_is_refused(tmp_path):
  """A layout reaching past the storage (offset + strides) is refused, not read out of bounds."""
  path = _good_file(tmp_path)
  with zipfile.ZipFile(path) as archive:
    entries = {n: archive.read(n) for n in archive.namelist()}
  pkl = entries['archive/data.pkl']
  # The tensor is (8,) with stride (1,): make it stride (2,), needing 15 elements.
  entries['archive/data.pkl'] = pkl.replace(b'(K\x08t(K\x01t', b'(K\x08t(K\x02t')
  assert entries['archive/data.pkl'] != pkl
  with pytest.raises(tsd.StateDictError, match='has 8 elements, a tensor needs 15'):
    tsd.read_state_dict(_zip(tmp_path / 'strided.pth', entries))


def test_crc_errors_are_refused(tmp_path):
  data = bytearray(_good_file(tmp_path).read_bytes())
  start = data.index(np.arange(8, dtype=np.float32).tobytes())
  data[start] ^= 0xFF  # Flip bits inside the stored storage bytes.
  path = tmp_path / 'crc.pth'
  path.write_bytes(bytes(data))
  with pytest.raises(tsd.StateDictError, match=rf'^{path}: .*Bad CRC-32'):
    tsd.read_state_dict(path)


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------


def _written(tmp_path) -> tuple[dict[str, np.ndarray], object]:
  rng = np.random.default_rng(0)
  values = {
      'conv.weight': rng.standard_normal((4, 2, 3)).astype(np.float32),
      'linear.bias': rng.standard_normal(5).astype(np.float32),
      'scalar': np.array(2.5, np.float32),
      'bn.num_batches_tracked': np.array(0, np.int64),
      'int64': np.array([-(2**40), 3, 2**62], np.int64),
      'float64': rng.standard_normal((2, 2)),
      'float16': rng.standard_normal(3).astype(np.float16),
      'int32': np.array([[1, -2]], np.int32),
      'bool': np.array([True, False]),
      'empty': np.zeros((0, 4), np.float32),
      'fortran': np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32)),
      'large': np.arange(70_000, dtype=np.float32),
  }
  path = tmp_path / 'written.pth'
  tsd.write_state_dict(path, values)
  return values, path


def test_written_files_read_back_with_torch(tmp_path):
  torch = _torch()
  values, path = _written(tmp_path)
  loaded = torch.load(path, weights_only=True)
  assert isinstance(loaded, collections.OrderedDict) and list(loaded) == list(values)
  for key, value in values.items():
    assert isinstance(loaded[key], torch.Tensor), key
    assert loaded[key].numpy().dtype == value.dtype, key
    assert tuple(loaded[key].shape) == value.shape, key
    np.testing.assert_array_equal(loaded[key].numpy(), value, err_msg=key)


def test_written_files_read_back_without_torch(tmp_path):
  values, path = _written(tmp_path)
  read = tsd.read_state_dict(path)
  assert list(read) == list(values)
  for key, value in values.items():
    assert read[key].dtype == value.dtype and read[key].shape == value.shape, key
    np.testing.assert_array_equal(read[key], value, err_msg=key)
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    assert names[0] == 'archive/data.pkl'
    assert archive.read('archive/version') == b'3\n'
    assert archive.read('archive/byteorder') == b'little'
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    pkl = archive.read('archive/data.pkl')
  assert pkl.startswith(b'\x80\x02ccollections\nOrderedDict\n')
  assert b'ctorch._utils\n_rebuild_tensor_v2\n' in pkl and b'ctorch\nFloatStorage\n' in pkl
  again = tmp_path / 'again.pth'
  tsd.write_state_dict(again, values)
  assert again.read_bytes() == path.read_bytes()  # Deterministic.


def test_writes_bfloat16_arrays(tmp_path):
  torch = _torch()
  ml_dtypes = pytest.importorskip('ml_dtypes')
  value = np.array([1.5, -2.25, 3e38], ml_dtypes.bfloat16)
  tsd.write_state_dict(tmp_path / 'bf16.pth', {'x': value})
  loaded = torch.load(tmp_path / 'bf16.pth', weights_only=True)['x']
  assert loaded.dtype == torch.bfloat16
  np.testing.assert_array_equal(loaded.float().numpy(), value.astype(np.float32))
  np.testing.assert_array_equal(
      tsd.read_state_dict(tmp_path / 'bf16.pth')['x'], value.astype(np.float32))


def test_write_refuses_unknown_dtypes(tmp_path):
  with pytest.raises(ValueError, match="tensor 'x': dtype <U1"):
    tsd.write_state_dict(tmp_path / 'x.pth', {'x': np.array(['a'])})


# ----------------------------------------------------------------------------
# load_reference without torch
# ----------------------------------------------------------------------------

_NO_TORCH = '''
import sys

class _BlockTorch:
  def find_spec(self, name, path=None, target=None):
    if name == 'torch' or name.startswith('torch.'):
      raise ImportError('torch is blocked in this test')
    return None

sys.meta_path.insert(0, _BlockTorch())
try:
  import torch
except ImportError:
  pass
else:
  raise SystemExit('torch was importable')
from wav2sleep_jax.models import reference
cfg, params = reference.load_reference(sys.argv[1])
assert 'torch' not in sys.modules, 'torch got imported'
print('OK', cfg.num_classes, len(cfg.signals))
'''


def test_load_reference_needs_no_torch():
  folder = require_shared('fixtures', 'reference_predict', 'model_eog')
  proc = subprocess.run(
      [sys.executable, '-c', _NO_TORCH, str(folder)],
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.split() == ['OK', '5', '2']
