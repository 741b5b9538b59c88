"""Read and write torch state dicts (`torch.save` zip files) without torch.

A `torch.save` file is a zip archive with one top-level folder:

  <archive>/data.pkl     pickle of the saved object; tensors are
                         `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
                         calls whose storage is a persistent id
                         ('storage', torch.<Type>Storage, key, location, numel)
  <archive>/data/<key>   raw bytes of storage `key`
  <archive>/byteorder    'little' or 'big' (optional: little)
  <archive>/version      serialization format version

`read_state_dict` unpickles with an allowlist as narrow as torch's
`weights_only=True` for a plain state dict: any other pickle global (e.g.
`os.system`) is refused by name before anything runs. `write_state_dict`
writes a file that `torch.load(path, weights_only=True)` reads.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import pathlib
import pickle
import struct
import zipfile
from typing import Any, Mapping

import numpy as np

from wav2sleep_jax.core import cli

# torch storage class -> numpy dtype of its elements ('bfloat16' is read as uint16).
_STORAGE_DTYPES = {
    'DoubleStorage': 'float64',
    'FloatStorage': 'float32',
    'HalfStorage': 'float16',
    'BFloat16Storage': 'bfloat16',
    'LongStorage': 'int64',
    'IntStorage': 'int32',
    'ShortStorage': 'int16',
    'CharStorage': 'int8',
    'ByteStorage': 'uint8',
    'BoolStorage': 'bool',
    'ComplexFloatStorage': 'complex64',
    'ComplexDoubleStorage': 'complex128',
    'UntypedStorage': 'uint8',
}
_WRITE_STORAGES = {v: k for k, v in _STORAGE_DTYPES.items() if k != 'UntypedStorage'}


class StateDictError(cli.InputError):
  """A file that is not a readable torch state dict (message starts with the path)."""


class _Invalid(Exception):
  """Problem found while unpickling; wrapped into StateDictError with the path."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
  """Stands in for a torch.<Type>Storage class named by the pickle."""
  name: str
  dtype: str


@dataclasses.dataclass(frozen=True)
class _Storage:
  """One storage's elements (bfloat16 kept as its uint16 bit patterns)."""
  key: str
  data: np.ndarray
  bfloat16: bool


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
  """uint16 bfloat16 bit patterns -> float32, bit-exact (they are its high half)."""
  return (bits.astype(np.uint32) << 16).view(np.float32)


def _is_index_tuple(value: Any) -> bool:
  return isinstance(value, tuple) and all(
      isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def _rebuild_tensor_v2(storage,
                       storage_offset,
                       size,
                       stride,
                       requires_grad=False,
                       backward_hooks=None,
                       metadata=None) -> np.ndarray:
  """torch._utils._rebuild_tensor_v2 -> a contiguous numpy copy of the tensor."""
  del requires_grad, backward_hooks, metadata
  if not isinstance(storage, _Storage):
    raise _Invalid(f'tensor storage is a {type(storage).__name__}, not a storage')
  if not (_is_index_tuple((storage_offset,)) and _is_index_tuple(size) and _is_index_tuple(stride)
          and len(size) == len(stride)):
    raise _Invalid(f'bad tensor layout offset={storage_offset!r} size={size!r} '
                   f'stride={stride!r}')
  data = storage.data
  if math.prod(size) == 0:
    out = np.zeros(size, data.dtype)
  else:
    extent = storage_offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if extent > data.size:
      raise _Invalid(f'storage data/{storage.key} has {data.size} elements, a tensor '
                     f'needs {extent}')
    view = np.lib.stride_tricks.as_strided(
        data[storage_offset:],
        shape=size,
        strides=[s * data.itemsize for s in stride],
        writeable=False)
    out = np.array(view, order='C')
  return _bfloat16_to_float32(out) if storage.bfloat16 else out


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None) -> np.ndarray:
  """torch._utils._rebuild_parameter: an nn.Parameter is its data here."""
  del requires_grad, backward_hooks
  if not isinstance(data, np.ndarray):
    raise _Invalid(f'parameter data is a {type(data).__name__}, not a tensor')
  return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state) -> np.ndarray:
  if state:
    raise _Invalid('a parameter carries extra Python state (not a plain state dict)')
  return _rebuild_parameter(data, requires_grad, backward_hooks)


_GLOBALS = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter_with_state,
    **{
        ('torch', name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()
    },
}


class _Unpickler(pickle.Unpickler):
  """Builds only what a state dict holds; storages come from the zip archive."""

  def __init__(self, file, archive: zipfile.ZipFile, prefix: str, big_endian: bool):
    super().__init__(file)
    self._archive, self._prefix, self._big_endian = archive, prefix, big_endian
    self._names = set(archive.namelist())
    self._storages: dict[str, _Storage] = {}

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _GLOBALS[(module, name)]
    except (KeyError, TypeError):
      raise _Invalid(f'refused pickle global {module}.{name}: only tensors of a plain '
                     'state dict are loaded') from None

  def persistent_load(self, pid: Any) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'
            and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and _is_index_tuple(
                (pid[4],))):
      raise _Invalid(f'unsupported persistent id {str(pid)[:80]}')
    _, storage_type, key, _, numel = pid
    if key in self._storages:
      return self._storages[key]
    entry = f'{self._prefix}/data/{key}'
    if entry not in self._names:
      raise _Invalid(f'missing storage entry {entry}')
    raw = self._archive.read(entry)
    bfloat16 = storage_type.dtype == 'bfloat16'
    dtype = np.dtype(np.uint16 if bfloat16 else storage_type.dtype)
    if len(raw) < numel * dtype.itemsize:
      raise _Invalid(f'storage entry {entry} has {len(raw)} bytes, {numel} '
                     f'{storage_type.name} elements need {numel * dtype.itemsize}')
    data = np.frombuffer(raw, dtype.newbyteorder('>' if self._big_endian else '<'), numel)
    storage = _Storage(key, data.astype(dtype), bfloat16)
    self._storages[key] = storage
    return storage


def _unpickle(archive: zipfile.ZipFile) -> Any:
  """The object saved in a torch zip archive."""
  names = archive.namelist()
  prefix = names[0].split('/', 1)[0] if names and '/' in names[0] else None
  if prefix is None or f'{prefix}/data.pkl' not in names:
    raise _Invalid('no <archive>/data.pkl entry (not a torch.save file)')
  byteorder = 'little'
  if f'{prefix}/byteorder' in names:
    byteorder = archive.read(f'{prefix}/byteorder').decode('ascii', 'replace').strip()
  if byteorder not in ('little', 'big'):
    raise _Invalid(f'unknown byteorder {byteorder[:20]!r}')
  pkl = archive.read(f'{prefix}/data.pkl')
  return _Unpickler(io.BytesIO(pkl), archive, prefix, byteorder == 'big').load()


def read_state_dict(path: str | pathlib.Path) -> dict[str, np.ndarray]:
  """A `torch.save`d state dict -> {name: numpy array}, without torch.

  Arrays keep their dtype, except bfloat16 which becomes float32 (exactly).
  Raises StateDictError (one line, starting with `path`) for anything else: not
  a zip, a damaged archive, missing or short storages, or a pickle global
  outside the state-dict allowlist (refused before it is called).
  """
  path = pathlib.Path(path)
  try:
    with zipfile.ZipFile(path) as archive:
      obj = _unpickle(archive)
  except _Invalid as e:
    raise StateDictError(f'{path}: not a readable torch state dict ({e})') from None
  except Exception as e:  # Damaged files raise many types (zip, zlib, pickle, struct).
    detail = ' '.join(str(e).split())[:200]
    raise StateDictError(f'{path}: not a readable torch state dict '
                         f'({type(e).__name__}: {detail})') from None
  if not isinstance(obj, Mapping) or not all(
      isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()):
    raise StateDictError(f'{path}: expected a flat mapping of names to tensors '
                         '(a model state dict).')
  return dict(obj)


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------

_ARCHIVE = 'archive'
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # Fixed, so the same tensors give the same bytes.


def _p_global(module: str, name: str) -> bytes:
  return b'c' + f'{module}\n{name}\n'.encode('ascii')


def _p_str(text: str) -> bytes:
  data = text.encode('utf-8')
  return b'X' + struct.pack('<I', len(data)) + data


def _p_int(n: int) -> bytes:
  if 0 <= n < 1 << 8:
    return b'K' + struct.pack('<B', n)
  if 0 <= n < 1 << 16:
    return b'M' + struct.pack('<H', n)
  if -(1 << 31) <= n < 1 << 31:
    return b'J' + struct.pack('<i', n)
  data = n.to_bytes(n.bit_length() // 8 + 1, 'little', signed=True)
  return b'\x8a' + struct.pack('<B', len(data)) + data  # LONG1


def _p_tuple(items: list[bytes]) -> bytes:
  return b'(' + b''.join(items) + b't'  # MARK ... TUPLE


_P_EMPTY_ORDERED_DICT = _p_global('collections', 'OrderedDict') + b')R'  # EMPTY_TUPLE REDUCE


def _tensor_pickle(key: int, storage: str, shape: tuple[int, ...]) -> bytes:
  """Opcodes of _rebuild_tensor_v2(storage `key`, 0, shape, C strides, False, {})."""
  strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
  pid = _p_tuple([
      _p_str('storage'),
      _p_global('torch', storage),
      _p_str(str(key)),
      _p_str('cpu'),
      _p_int(math.prod(shape))
  ])
  args = _p_tuple([
      pid + b'Q',  # BINPERSID
      _p_int(0),
      _p_tuple([_p_int(n) for n in shape]),
      _p_tuple([_p_int(s) for s in strides]),
      b'\x89',  # NEWFALSE
      _P_EMPTY_ORDERED_DICT
  ])
  return _p_global('torch._utils', '_rebuild_tensor_v2') + args + b'R'


def _storage_of(name: str, array: np.ndarray) -> tuple[str, bytes]:
  """(torch storage class, little-endian bytes) of one array."""
  dtype = array.dtype
  if dtype.name == 'bfloat16':  # ml_dtypes (JAX): the raw 16-bit patterns.
    return 'BFloat16Storage', np.ascontiguousarray(array).view(np.uint16).astype('<u2').tobytes()
  storage = _WRITE_STORAGES.get(dtype.name)
  if storage is None:
    raise ValueError(f'tensor {name!r}: dtype {dtype} has no torch storage type.')
  return storage, np.ascontiguousarray(array).astype(dtype.newbyteorder('<')).tobytes()


def write_state_dict(path: str | pathlib.Path, tensors: Mapping[str, np.ndarray]) -> None:
  """Write {name: array} as a torch.save file (`torch.load(weights_only=True)` reads it).

  Each array becomes a contiguous tensor with its own storage; the zip is stored
  uncompressed, little-endian, with a fixed timestamp (same input, same bytes).
  """
  body, storages = [], []
  for i, (name, value) in enumerate(tensors.items()):
    if not isinstance(name, str):
      raise ValueError(f'state dict keys must be strings, got {name!r}.')
    array = np.asarray(value)
    storage, data = _storage_of(name, array)
    body.append(_p_str(name) + _tensor_pickle(i, storage, tuple(array.shape)))
    storages.append(data)
  # PROTO 2, OrderedDict(), MARK, key/tensor pairs, SETITEMS, STOP.
  pkl = b'\x80\x02' + _P_EMPTY_ORDERED_DICT + b'(' + b''.join(body) + b'u.'
  entries = [('data.pkl', pkl), ('byteorder', b'little')]
  entries += [(f'data/{i}', data) for i, data in enumerate(storages)]
  entries.append(('version', b'3\n'))
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as archive:
    for name, data in entries:
      archive.writestr(zipfile.ZipInfo(f'{_ARCHIVE}/{name}', _ZIP_TIME), data)
