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

import importlib.util
import os
import platform
import sys

from wav2sleep_jax.models import cpu_fast_paths

SETTINGS = {
    'MALLOC_ARENA_MAX': '1',
    'MALLOC_MMAP_MAX_': '0',
    'MALLOC_TRIM_THRESHOLD_': str(1 << 46),
}
OPT_OUT = 'WAV2SLEEP_SYSTEM_MALLOC'
_MARKER = 'WAV2SLEEP_REUSABLE_HEAP'

# JAX plugins whose presence means the step runs on an accelerator, not XLA:CPU.
_ACCELERATOR_PLUGINS = ('jax_cuda12_plugin', 'jax_cuda13_plugin', 'jax_rocm60_plugin', 'libtpu',
                        'jax_plugins.xla_cuda12', 'jax_plugins.xla_cuda13')


def accelerator_expected() -> bool:
  """Whether JAX will run on a GPU/TPU (JAX_PLATFORMS, else an installed plugin).

  Decided without starting JAX, so it can run before the re-exec. On such a
  machine the XLA:CPU heap problem does not arise, and a single malloc arena
  would only slow the host threads that feed the accelerator.
  """
  requested = os.environ.get('JAX_PLATFORMS', '').strip().lower()
  if requested:
    return not requested.startswith('cpu')
  for name in _ACCELERATOR_PLUGINS:
    try:
      if importlib.util.find_spec(name) is not None:
        return True
    except (ImportError, ValueError):
      continue
  return False


def applies() -> bool:
  """Whether this process runs XLA:CPU on glibc and has not opted out (either switch)."""
  return (sys.platform.startswith('linux') and platform.libc_ver()[0] == 'glibc'
          and os.environ.get(OPT_OUT, '') in ('', '0') and cpu_fast_paths.enabled()
          and not accelerator_expected())


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
