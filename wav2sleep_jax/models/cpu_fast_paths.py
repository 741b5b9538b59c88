"""CPU-only speed-ups of the model, in one place, behind one switch.

XLA:CPU runs parts of wav2sleep far below what the hardware allows (README,
Performance). Each work-around below changes how a value is computed, never the
value (tests compare both paths, gradients included):

1. `conv1d`: 1-D convs without XLA:CPU's slow cases (`layers.conv_general_dilated`):
   kernel gradients as one matmul (XLA:CPU transposes both activations and runs
   a night-long "convolution"), strided input gradients as one stride-1 conv
   over the stride's phases (not over a zero-dilated gradient), one-channel and
   1x1 convs elementwise / as a matmul.
2. `encoder_loop`: encoders one after the other for `encoder_impl='auto'`
   (`Wav2Sleep.encode`); vmapped conv gradients are very slow on XLA:CPU.
3. Under remat the `cse_barrier_expander` pass is disabled
   (`wav2sleep.compiler_options`), or XLA:CPU merges the recomputation back.
4. The glibc heap re-exec of the commands (`wav2sleep_jax.models.host_heap`).

Paths 1-2 are trace-time choices. A function wrapped with `per_platform` is
traced twice and `jax.lax.platform_dependent` keeps the traced-with-fast-paths
version for CPU and the plain one for every other platform, so a step lowered
for cuda/tpu (on a GPU host, or from a CPU host with `lowering_platforms` or
`jax.export`) never contains them; their ops carry the name scope
`cpu_fast_path/<name>`. Outside `per_platform` the current default backend
decides. `WAV2SLEEP_CPU_FAST_PATHS=0` turns all four off.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import Callable, Iterator, TypeVar

SWITCH = 'WAV2SLEEP_CPU_FAST_PATHS'
SCOPE = 'cpu_fast_path'

_F = TypeVar('_F', bound=Callable)
_trace = threading.local()


def enabled() -> bool:
  """False when the switch turns the CPU fast paths off."""
  return os.environ.get(SWITCH, '1').strip().lower() not in ('0', 'false', 'no', 'off')


def active() -> bool:
  """Whether the code being traced now may take the CPU fast paths."""
  forced = getattr(_trace, 'active', None)
  if forced is not None:
    return forced
  import jax  # Lazy: host_heap reads `enabled` before JAX may be imported.
  return enabled() and jax.default_backend() == 'cpu'


@contextlib.contextmanager
def _tracing(on: bool) -> Iterator[None]:
  previous = getattr(_trace, 'active', None)
  _trace.active = on
  try:
    yield
  finally:
    _trace.active = previous


def scope(name: str):
  """Name scope marking the ops of one fast path (visible in lowered text)."""
  import jax
  return jax.named_scope(f'{SCOPE}/{name}')


def per_platform(fn: _F) -> _F:
  """fn traced with the CPU fast paths for CPU lowering, without for other platforms.

  `fn` takes positional array (pytree) arguments only and must be pure; call
  the result inside `jax.jit`.
  """

  def branch(on: bool):

    def run(*args):
      with _tracing(on):
        return fn(*args)

    return run

  @functools.wraps(fn)
  def wrapped(*args):
    import jax
    if not enabled():
      return branch(False)(*args)
    return jax.lax.platform_dependent(*args, cpu=branch(True), default=branch(False))

  return wrapped  # type: ignore[return-value]
