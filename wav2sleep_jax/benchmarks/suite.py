r"""Accelerator benchmark suite: one command, one JSON, one README-ready table.

  python -m wav2sleep_jax.benchmarks.suite --out=bench_gpu [--platform=gpu]
      [--dtypes=float32,bfloat16] [--hours=10] [--batch=16] [--data_nights=8] [--dry_run]
      [-- EXTRA BENCHMARK FLAGS]

Runs `python -m wav2sleep_jax.benchmark` train, infer and memory for each dtype
and the data benchmark once, each in its own process (so one kind's memory
never inflates another's), then writes OUT/suite.json (every result plus the
machine) and OUT/table.md. Refuses to start (exit 2, one line) when JAX sees
no device of --platform, so a missing CUDA install never produces CPU numbers
labelled as GPU ones; --dry_run only prints the commands. launch/gpu_benchmark.sh
wraps it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time
from typing import Any

MODEL_KINDS = ('train', 'infer', 'memory')


def commands(out: pathlib.Path,
             dtypes: list[str],
             hours: float,
             batch: int | None,
             extra: list[str],
             data_nights: int = 8) -> list[tuple[str, list[str]]]:
  """(result name, argv) of every benchmark process of the suite."""
  base = [sys.executable, '-m', 'wav2sleep_jax.benchmark']
  runs = []
  for dtype in dtypes:
    for kind in MODEL_KINDS:
      name = f'{kind}_{dtype}'
      argv = base + [kind, f'--dtype={dtype}', f'--hours={hours}', f'--json={out / name}.json']
      if batch and kind != 'memory':
        argv.append(f'--batch={batch}')
      runs.append((name, argv + extra))
  if data_nights:
    runs.append(('data', base + [
        'data', f'--nights={data_nights}', '--hours=8', '--workers=0,2',
        f'--json={out / "data"}.json'
    ]))
  return runs


def check_platform(platform: str) -> str:
  """The device kind of JAX's first device; SystemExit(2) if it is not on `platform`."""
  import jax
  devices = jax.devices()
  if devices[0].platform != platform:
    print(
        f'error: no {platform} device visible to JAX (devices: '
        f'{", ".join(str(d) for d in devices[:4])}); install the accelerator build of jax '
        "(e.g. pip install -e '.[gpu]') or use --dry_run",
        file=sys.stderr)
    sys.exit(2)
  return devices[0].device_kind


def _row(name: str, r: dict[str, Any]) -> str:
  kind, _, dtype = name.partition('_')
  gb = lambda b: f'{b / 1e9:.1f}' if b else '-'
  if kind == 'memory':
    return (f"| memory | {dtype} | largest batch {r['largest_batch']} of "
            f"{r['config']['hours']:.0f}-h nights | {gb(r.get('largest_batch_bytes'))} | - |")
  mfu = f"{r['mfu']:.1%}" if r.get('mfu') else '-'
  return (f"| {kind} | {dtype} | {r['s_per_night'] * 1e3:.1f} ms/night "
          f"(batch {r['config']['batch']}, {r['nights_per_s']:.1f} nights/s) | "
          f"{gb(r.get('peak_memory_bytes'))} | {mfu} |")


def table(results: dict[str, dict[str, Any]], device_kind: str) -> str:
  """Markdown table of the suite's results."""
  lines = [
      f'Device: {device_kind}', '', '| benchmark | dtype | result | peak memory (GB) | MFU |',
      '|---|---|---|---|---|'
  ]
  lines += [_row(name, r) for name, r in results.items() if name != 'data' and 'error' not in r]
  data = results.get('data')
  if data and 'error' not in data:
    best = max((r['nights_per_s'] for r in data['pipeline']), default=0.0)
    lines.append(f"\nData: build {data['build_nights_per_min_per_core']:.0f} nights/min per "
                 f"core, read back {data['read_nights_per_s']:.1f} nights/s, Grain pipeline "
                 f"up to {best:.1f} nights/s.")
  failed = [f'{name}: {r["error"]}' for name, r in results.items() if 'error' in r]
  if failed:
    lines += ['', 'Failed:'] + [f'- {f}' for f in failed]
  return '\n'.join(lines)


def run(runs: list[tuple[str, list[str]]]) -> dict[str, dict[str, Any]]:
  """Each benchmark in its own process; a failing one is recorded, not fatal."""
  results = {}
  for name, argv in runs:
    print(f'[{time.strftime("%H:%M:%S")}] {name} ...', flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True)
    json_path = pathlib.Path(next(a for a in argv if a.startswith('--json='))[7:])
    if proc.returncode or not json_path.exists():
      tail = (proc.stderr.strip() or 'no output').splitlines()[-1]
      results[name] = {'error': f'exit {proc.returncode}: {tail}'}
    else:
      results[name] = json.loads(json_path.read_text())
  return results


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', required=True, help='output folder')
  parser.add_argument('--platform', default='gpu', choices=('gpu', 'tpu', 'cpu'))
  parser.add_argument('--dtypes', default='float32,bfloat16')
  parser.add_argument('--hours', type=float, default=10.0)
  parser.add_argument(
      '--batch',
      type=int,
      default=None,
      help='nights per step (default: the benchmark default, 16 on GPU/TPU)')
  parser.add_argument(
      '--data_nights',
      type=int,
      default=8,
      help='synthetic nights for the data benchmark (0: skip it)')
  parser.add_argument('--dry_run', action='store_true', help='print the commands only')
  args, extra = parser.parse_known_args(argv)
  extra = [a for a in extra if a != '--']
  dtypes = args.dtypes.split(',')
  if set(dtypes) - {'float32', 'bfloat16'}:
    parser.exit(2, f'error: --dtypes must be float32 and/or bfloat16, not {args.dtypes}\n')
  out = pathlib.Path(args.out)
  runs = commands(out, dtypes, args.hours, args.batch, extra, args.data_nights)
  if args.dry_run:
    print('\n'.join(' '.join(argv) for _, argv in runs))
    return 0
  device_kind = check_platform(args.platform)
  out.mkdir(parents=True, exist_ok=True)
  results = run(runs)
  text = table(results, device_kind)
  (out / 'suite.json').write_text(
      json.dumps({
          'device_kind': device_kind,
          'results': results
      }, indent=2, default=float))
  (out / 'table.md').write_text(text + '\n')
  print(text)
  return 1 if any('error' in r for r in results.values()) else 0


if __name__ == '__main__':
  sys.exit(main())
