r"""`tfds build` without TensorFlow, for the builders in this folder.

  python -m tfds_builders.build shhs --manual_dir=/data/nsrr/shhs \
      --data_dir=~/tensorflow_datasets [--config='{"name": "x", ...}'] \
      [--beam_pipeline_options=runner=FnApiRunner,direct_running_mode=multi_processing,direct_num_workers=8]

The flags of `tfds build` (the `tfds` command imports TensorFlow at start;
this builds each dataset through TFDS's builder API and refuses, on one line,
the few flags it does not implement, e.g. --download_only, --publish_dir). A
bare dataset name resolves to `tfds_builders/<name>/`; the builders write
array_record unless --file_format says otherwise.

Exit codes: 0 built; 1 built, but a split was left out because every one of
its nights was skipped (summary on stderr; details in skipped.csv); 2 bad
input (one line `error: ...`, e.g. no nights found, or every night skipped).
The runner is wav2sleep_jax/builders/build_runner.py.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from wav2sleep_jax.builders import build_runner

_HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: Sequence[str] | None = None) -> None:
  build_runner.run_cli(sys.argv if argv is None else argv, _HERE)


if __name__ == '__main__':
  main()
