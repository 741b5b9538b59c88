"""Reusable host heap: the re-exec and the page faults it saves."""

import os
import subprocess
import sys
import textwrap

import pytest

from wav2sleep_jax.models import host_heap

pytestmark = pytest.mark.skipif(not host_heap.applies(), reason='glibc-only settings')

_CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in host_heap.SETTINGS and not k.startswith('WAV2SLEEP_')
}

# Allocates, touches and frees 256 MB four times; prints the page faults of
# the first round and of the three later rounds.
_FAULTS = textwrap.dedent('''
    import ctypes, resource
    from wav2sleep_jax.models import host_heap
    host_heap.reexec_with_reusable_heap()
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    def faults():
      return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    counts = []
    for _ in range(4):  # Like XLA's per-step temporaries: malloc, write, free.
      before = faults()
      block = libc.malloc(256 << 20)
      ctypes.memset(block, 1, 256 << 20)
      libc.free(block)
      counts.append(faults() - before)
    print(counts[0], sum(counts[1:]))
''')


def _run(code, env):
  out = subprocess.run([sys.executable, '-c', code],
                       env=env,
                       capture_output=True,
                       text=True,
                       check=True)
  return out.stdout.split()


def test_environment_adds_settings_and_keeps_the_users():
  env = host_heap.environment({'MALLOC_ARENA_MAX': '4', 'PATH': '/bin'})
  assert env['MALLOC_ARENA_MAX'] == '4' and env['PATH'] == '/bin'
  assert env['MALLOC_MMAP_MAX_'] == '0'
  assert int(env['MALLOC_TRIM_THRESHOLD_']) > 1e12


def test_reexec_sets_the_heap_and_reuses_freed_memory():
  first, later = map(int, _run(_FAULTS, _CLEAN_ENV))
  # 256 MB is 65536 pages; with the settings the later rounds reuse them.
  assert first > 30000, first
  assert later < first / 10, (first, later)


def test_opt_out_keeps_the_system_allocator():
  code = ('import os; from wav2sleep_jax.models import host_heap; '
          'host_heap.reexec_with_reusable_heap(); print(os.environ.get("MALLOC_ARENA_MAX"))')
  assert _run(code, _CLEAN_ENV) == ['1']
  assert _run(code, {**_CLEAN_ENV, host_heap.OPT_OUT: '1'}) == ['None']
  first, later = map(int, _run(_FAULTS, {**_CLEAN_ENV, host_heap.OPT_OUT: '1'}))
  assert later > first, (first, later)  # Every round faults its pages in again.
