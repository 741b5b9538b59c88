"""Keep freed host memory for reuse: glibc settings the CPU training step needs.

XLA:CPU allocates each step's temporaries (gigabytes for 10-h nights) with
malloc and frees them at the end of the step. glibc serves blocks that large
with a fresh mmap, or from a per-thread arena that it trims, so every step
page-faults all of that memory in again: on the 2-core benchmark machine that
was 3 million page faults and about 40% of a training step, mostly kernel time
zeroing pages. With a single arena, no mmap and no trimming, the heap keeps
the memory after the first step and later steps reuse it (measured: 10.2 ->
6.5 s per 10-h night for the paper model at batch 1).

These settings are read when the process starts, so `reexec_with_reusable_heap`
restarts the current command with them (same argv, same PID) unless they are
already set. The command-line entry points call it; set
`WAV2SLEEP_SYSTEM_MALLOC=1` to keep the system defaults.
"""

from __future__ import annotations

import os
import platform
import sys

SETTINGS = {
    'MALLOC_ARENA_MAX': '1',
    'MALLOC_MMAP_MAX_': '0',
    'MALLOC_TRIM_THRESHOLD_': str(1 << 46),
}
OPT_OUT = 'WAV2SLEEP_SYSTEM_MALLOC'
_MARKER = 'WAV2SLEEP_REUSABLE_HEAP'


def applies() -> bool:
  """Whether this process runs on glibc and has not opted out."""
  return (sys.platform.startswith('linux') and platform.libc_ver()[0] == 'glibc'
          and os.environ.get(OPT_OUT, '') in ('', '0'))


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
  """`env` (default os.environ) with the reusable-heap settings added where unset."""
  env = dict(os.environ if env is None else env)
  for key, value in SETTINGS.items():
    env.setdefault(key, value)
  env[_MARKER] = '1'
  return env


def reexec_with_reusable_heap() -> None:
  """Restart this command with `SETTINGS` in its environment, once; else return.

  Call it from a `__main__` block only: it replaces the running program.
  """
  if not applies() or os.environ.get(_MARKER) or all(k in os.environ for k in SETTINGS):
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, list(sys.orig_argv), environment())
