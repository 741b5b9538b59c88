"""Our step beside the PyTorch baseline, in one run on one machine (`benchmark compare`).

The baseline (`torch_baseline`, the reference architecture in PyTorch) runs first,
in a child process with the system allocator settings (as a user would run the
reference) and one torch thread per core; then our jitted step runs in this
process. Both time the same batch of random nights with the same model shape and
report medians after warm-up; the ratio is baseline seconds / our seconds.
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


def baseline_available() -> bool:
  return importlib.util.find_spec('torch') is not None


def _baseline_env() -> dict[str, str]:
  """This environment without the reusable-heap settings our commands add."""
  return {k: v for k, v in os.environ.items()
          if k not in host_heap.SETTINGS and not k.startswith('WAV2SLEEP_')}


def run_baseline(kind: str, mcfg: ModelConfig, batch: int, epochs: int, repeats: int,
                 warmup: int) -> dict[str, Any]:
  """The PyTorch baseline's result for `kind`, measured in a child process."""
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'baseline.json')
    cmd = [sys.executable, '-m', 'wav2sleep_jax.benchmarks.torch_baseline', kind,
           f'--batch={batch}', f'--hours={epochs / model_bench.EPOCHS_PER_HOUR!r}',
           f'--model_json={json.dumps(model_io.config_to_dict(mcfg))}',
           f'--repeats={repeats}', f'--warmup={warmup}', f'--json={out}']
    proc = subprocess.run(cmd, env=_baseline_env(), capture_output=True, text=True)
    if proc.returncode:
      lines = (proc.stderr.strip() or proc.stdout.strip() or 'no output').splitlines()
      raise RuntimeError(f'PyTorch baseline {kind} failed: {lines[-1]}')
    with open(out) as f:
      return json.load(f)


def compare(config: ml_collections.ConfigDict, mcfg: ModelConfig, batch: int, epochs: int,
            repeats: int = 5, warmup: int = 2, kinds=KINDS) -> dict[str, Any]:
  """{'rows': [{kind, ours_s_per_night, baseline_s_per_night, ratio}], 'ours', 'baseline'}."""
  baseline = ({kind: run_baseline(kind, mcfg, batch, epochs, repeats, warmup)
               for kind in kinds} if baseline_available() else {})
  ours = {kind: model_bench.benchmark_step(kind, config, mcfg, batch, epochs, repeats, warmup)
          for kind in kinds}
  rows = []
  for kind in kinds:
    mine = ours[kind]['s_per_night']
    theirs = baseline[kind]['s_per_night'] if kind in baseline else None
    rows.append({'kind': kind, 'ours_s_per_night': mine, 'baseline_s_per_night': theirs,
                 'ratio': theirs / mine if theirs else None})
  note = None if baseline else "PyTorch not installed (pip install -e '.[torch]'): no baseline"
  return {'rows': rows, 'baseline_note': note, 'ours': ours, 'baseline': baseline}


def table(result: dict[str, Any], cpu: str) -> str:
  """Markdown table of a `compare` result, naming the machine."""
  lines = [f'Machine: {cpu}', '',
           '| step | ours (s/night) | PyTorch baseline (s/night) | ratio |',
           '|---|---|---|---|']
  for row in result['rows']:
    theirs = row['baseline_s_per_night']
    lines.append(f"| {row['kind']} | {row['ours_s_per_night']:.3f} | "
                 + (f"{theirs:.3f} | x{row['ratio']:.2f} |" if theirs else '- | - |'))
  if result['baseline_note']:
    lines.append(f"\n{result['baseline_note']}")
  return '\n'.join(lines)
