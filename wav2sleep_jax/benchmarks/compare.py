"""Our step beside the PyTorch baseline, in one run on one machine (`benchmark compare`).

The baseline (`torch_baseline`, the reference architecture in PyTorch) runs first,
in a child process with glibc's default heap (as a user would run the reference)
or, with `baseline_heap='reusable'`, the heap settings our commands use, and one
torch thread per core; then our jitted step runs in this process. Both time the
same batch of random nights with the same model shape and report medians after
warm-up; the ratio is baseline seconds / our seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import ml_collections

from wav2sleep_jax.benchmarks import model_bench
from wav2sleep_jax.models import host_heap
from wav2sleep_jax.models import io as model_io
from wav2sleep_jax.models.config import ModelConfig

KINDS = ('train', 'infer')
# How the baseline's process allocates: 'system' = glibc defaults, as the reference
# runs; 'reusable' = the heap settings our commands use (`host_heap.SETTINGS`).
BASELINE_HEAPS = ('system', 'reusable')


def baseline_available() -> bool:
  return importlib.util.find_spec('torch') is not None


def _baseline_env(heap: str = 'system') -> dict[str, str]:
  """This environment with the baseline's heap: system defaults, or our settings."""
  env = {
      k: v
      for k, v in os.environ.items()
      if k not in host_heap.SETTINGS and not k.startswith('WAV2SLEEP_')
  }
  if heap == 'reusable':
    env.update(host_heap.SETTINGS)
  elif heap != 'system':
    raise ValueError(f'baseline heap {heap!r}: expected one of {BASELINE_HEAPS}.')
  return env


def run_baseline(kind: str,
                 mcfg: ModelConfig,
                 batch: int,
                 epochs: int,
                 repeats: int,
                 warmup: int,
                 heap: str = 'system') -> dict[str, Any]:
  """The PyTorch baseline's result for `kind`, measured in a child process."""
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'baseline.json')
    cmd = [
        sys.executable, '-m', 'wav2sleep_jax.benchmarks.torch_baseline', kind, f'--batch={batch}',
        f'--hours={epochs / model_bench.EPOCHS_PER_HOUR!r}',
        f'--model_json={json.dumps(model_io.config_to_dict(mcfg))}', f'--repeats={repeats}',
        f'--warmup={warmup}', f'--json={out}'
    ]
    proc = subprocess.run(cmd, env=_baseline_env(heap), capture_output=True, text=True)
    if proc.returncode:
      lines = (proc.stderr.strip() or proc.stdout.strip() or 'no output').splitlines()
      raise RuntimeError(f'PyTorch baseline {kind} failed: {lines[-1]}')
    with open(out) as f:
      return json.load(f)


def compare(config: ml_collections.ConfigDict,
            mcfg: ModelConfig,
            batch: int,
            epochs: int,
            repeats: int = 5,
            warmup: int = 2,
            kinds=KINDS,
            baseline_heap: str = 'system') -> dict[str, Any]:
  """{'rows': [{kind, ours_s_per_night, baseline_s_per_night, ratio}], 'ours', 'baseline'}.

  `baseline_heap`: 'system' runs the baseline with glibc's defaults, as the
  reference runs; 'reusable' gives it the heap settings our commands use (on the
  two 2-core AMD EPYC VMs measured, its training step then ran 2.4x and 3.8x
  faster; README, Performance).
  """
  baseline = ({
      kind: run_baseline(kind, mcfg, batch, epochs, repeats, warmup, baseline_heap) for kind in kinds
  } if baseline_available() else {})
  ours = {
      kind: model_bench.benchmark_step(kind, config, mcfg, batch, epochs, repeats, warmup)
      for kind in kinds
  }
  rows = []
  for kind in kinds:
    mine = ours[kind]['s_per_night']
    theirs = baseline[kind]['s_per_night'] if kind in baseline else None
    rows.append({
        'kind': kind,
        'ours_s_per_night': mine,
        'baseline_s_per_night': theirs,
        'ratio': theirs / mine if theirs else None
    })
  note = None if baseline else "PyTorch not installed (pip install -e '.[torch]'): no baseline"
  return {
      'rows': rows,
      'baseline_note': note,
      'baseline_heap': baseline_heap,
      'ours': ours,
      'baseline': baseline
  }


def table(result: dict[str, Any], cpu: str) -> str:
  """Markdown table of a `compare` result, naming the machine."""
  lines = [
      f"Machine: {cpu}; baseline heap: {result['baseline_heap']}", '',
      '| step | ours (s/night) | PyTorch baseline (s/night) | ratio |', '|---|---|---|---|'
  ]
  for row in result['rows']:
    theirs = row['baseline_s_per_night']
    lines.append(f"| {row['kind']} | {row['ours_s_per_night']:.3f} | " +
                 (f"{theirs:.3f} | x{row['ratio']:.2f} |" if theirs else '- | - |'))
  if result['baseline_note']:
    lines.append(f"\n{result['baseline_note']}")
  return '\n'.join(lines)
