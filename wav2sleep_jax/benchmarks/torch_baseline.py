r"""PyTorch wav2sleep baseline for side-by-side speed comparisons (benchmark only).

  python -m wav2sleep_jax.benchmarks.torch_baseline {train,infer} [--batch=2 --hours=10
      --signals=ECG,PPG,ABD,THX --model_json=JSON --threads=0 --repeats=5 --warmup=2 --json=OUT.json]

Written in this project from the architecture (paper + the reference's documented
semantics), not copied: the same layers, shapes, parameter count (2,948,740 for
the default 4-signal model) and FLOPs as the reference's default model, built from
the standard torch modules the reference uses (channels-first `Conv1d`,
`InstanceNorm1d`, a channels-first layer norm, `TransformerEncoderLayer` with a key
padding mask, `-inf` rows for absent signals), so its step time stands in for the
reference's on the same machine. `train` is a full step (forward, cross-entropy,
backward, gradient clipping, AdamW); `infer` the eval-mode forward under
`torch.inference_mode()`. Medians after warm-up. Needs the `torch` extra; never used
for training or parity. `python -m wav2sleep_jax.benchmark compare` runs it beside
our step and prints the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import re
import statistics
import sys
import time

import torch
from torch import nn

from wav2sleep_jax.core import signals as signals_lib
from wav2sleep_jax.models.config import ModelConfig

EPOCHS_PER_HOUR = 3600 // signals_lib.EPOCH_SECONDS


class ChannelLayerNorm(nn.Module):
  """Layer norm over the channels of a [N, C, L] tensor, with affine weight and bias."""

  def __init__(self, channels: int, eps: float):
    super().__init__()
    self.weight = nn.Parameter(torch.ones(1, channels, 1))
    self.bias = nn.Parameter(torch.zeros(1, channels, 1))
    self.eps = eps

  def forward(self, x_BCL: torch.Tensor) -> torch.Tensor:
    mean = x_BCL.mean(1, keepdim=True)
    var = (x_BCL - mean).pow(2).mean(1, keepdim=True)
    return (x_BCL - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class EncoderBlock(nn.Module):
  """conv k3 -> instance norm -> GELU, three times (the third stride 2), + 1x1 shortcut."""

  def __init__(self, cin: int, cout: int, eps: float):
    super().__init__()
    convs, norms = [], []
    for i, stride in enumerate((1, 1, 2)):
      convs.append(nn.Conv1d(cin if i == 0 else cout, cout, 3, stride, 1, bias=False))
      norms.append(nn.InstanceNorm1d(cout, eps=eps))
    self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
    self.shortcut = nn.Conv1d(cin, cout, 1, 2, 0, bias=False)
    self.act = nn.GELU()

  def forward(self, x_BCL: torch.Tensor) -> torch.Tensor:
    y = x_BCL
    for conv, norm in zip(self.convs, self.norms):
      y = self.act(norm(conv(y)))
    return self.act(y + self.shortcut(x_BCL))


class SignalEncoder(nn.Module):
  """[B, S*k] raw samples -> [B, S, F]."""

  def __init__(self, name: str, cfg: ModelConfig):
    super().__init__()
    channels = cfg.channel_schedule(name)
    ins = (1,) + channels[:-1]
    self.blocks = nn.Sequential(
        *[EncoderBlock(i, o, cfg.instance_norm_eps) for i, o in zip(ins, channels)])
    self.proj = nn.Linear(4 * channels[-1], cfg.feature_dim)
    self.act = nn.GELU()

  def forward(self, x_BT: torch.Tensor, epochs: int) -> torch.Tensor:
    y_BCL = self.blocks(x_BT[:, None])
    y_BSF = y_BCL.transpose(1, 2).reshape(x_BT.shape[0], epochs, -1)
    return self.act(self.proj(y_BSF))


class EpochMixer(nn.Module):
  """CLS token + present signal vectors per epoch through a pre-norm transformer."""

  def __init__(self, cfg: ModelConfig):
    super().__init__()
    self.cls = nn.Parameter(torch.randn(1, 1, cfg.feature_dim))
    layer = nn.TransformerEncoderLayer(
        cfg.feature_dim,
        cfg.mixer_heads,
        cfg.mixer_ff_dim,
        cfg.dropout,
        activation='gelu',
        batch_first=True,
        norm_first=True)
    self.transformer = nn.TransformerEncoder(layer, cfg.mixer_layers, enable_nested_tensor=False)

  def forward(self, z_BSMF: torch.Tensor, absent_BM: torch.Tensor) -> torch.Tensor:
    b, s, m, f = z_BSMF.shape
    tokens_BNF = torch.cat([self.cls.expand(b * s, 1, f), z_BSMF.reshape(b * s, m, f)], 1)
    absent_BN = torch.cat([torch.zeros_like(absent_BM[:, :1]), absent_BM], 1)
    absent_tokens_BN = absent_BN.repeat_interleave(s, 0)
    out_BNF = self.transformer(tokens_BNF, src_key_padding_mask=absent_tokens_BN)
    return out_BNF[:, 0].reshape(b, s, f)


class DilatedBlock(nn.Module):
  """Dilated convs (k7, same padding) -> channel layer norm -> GELU, residual add."""

  def __init__(self, cfg: ModelConfig):
    super().__init__()
    f, k = cfg.feature_dim, cfg.sequence_kernel_size
    layers = []
    for d in cfg.sequence_dilations:
      layers += [
          nn.Conv1d(f, f, k, padding=d * (k - 1) // 2, dilation=d, bias=False),
          ChannelLayerNorm(f, cfg.layer_norm_eps),
          nn.GELU()
      ]
    self.convs = nn.Sequential(*layers)
    self.dropout = nn.Dropout(cfg.dropout)
    self.act = nn.GELU()

  def forward(self, x_BFS: torch.Tensor) -> torch.Tensor:
    return self.act(x_BFS + self.dropout(self.convs(x_BFS)))


class Wav2SleepTorch(nn.Module):
  """The default wav2sleep architecture (non-causal, instance-norm encoders)."""

  def __init__(self, cfg: ModelConfig):
    super().__init__()
    unsupported = unsupported_fields(cfg)
    if unsupported:
      raise ValueError(f'The PyTorch baseline builds the default architecture only; '
                       f'unsupported: {", ".join(unsupported)}')
    self.signals = tuple(sorted(cfg.signals))
    self.encoders = nn.ModuleDict({n: SignalEncoder(n, cfg) for n in self.signals})
    self.epoch_mixer = EpochMixer(cfg)
    self.sequence_mixer = nn.Sequential(*[DilatedBlock(cfg) for _ in range(cfg.sequence_blocks)])
    self.classifier = nn.Linear(cfg.feature_dim, cfg.num_classes)

  def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
    """x: {name: [B, S*k]}, a row of -inf = absent -> logits [B, S, K]."""
    z, absent = [], []
    for name in self.signals:
      x_BT = x[name]
      absent_B = torch.isinf(x_BT[:, 0])
      epochs = x_BT.shape[1] // signals_lib.samples_per_epoch(name)
      z_BSF = self.encoders[name](torch.where(absent_B[:, None], 0.0, x_BT), epochs)
      z.append(torch.where(absent_B[:, None, None], 0.0, z_BSF))
      absent.append(absent_B)
    fused_BSF = self.epoch_mixer(torch.stack(z, 2), torch.stack(absent, 1))
    mixed_BFS = self.sequence_mixer(fused_BSF.transpose(1, 2))
    return self.classifier(mixed_BFS.transpose(1, 2))


# ModelConfig fields the baseline reproduces with any value; every other field must
# keep its default (the reference's default architecture).
SHAPE_FIELDS = frozenset({
    'signals', 'num_classes', 'feature_dim', 'encoder_initial_channels', 'encoder_max_channels',
    'encoder_channels', 'instance_norm_eps', 'mixer_layers', 'mixer_heads', 'mixer_ff_dim',
    'dropout', 'sequence_blocks', 'sequence_kernel_size', 'sequence_dilations', 'layer_norm_eps',
    'encoder_impl', 'remat'
})


def unsupported_fields(cfg: ModelConfig) -> list[str]:
  """Fields of `cfg` that change the architecture away from what the baseline builds."""
  default = ModelConfig()
  return [
      f'{f.name}={getattr(cfg, f.name)!r}' for f in dataclasses.fields(cfg)
      if f.name not in SHAPE_FIELDS and getattr(cfg, f.name) != getattr(default, f.name)
  ]


def num_params(model: nn.Module) -> int:
  return sum(p.numel() for p in model.parameters())


_REFERENCE_KEYS = (  # (pattern in a reference state dict, baseline name)
    (r'signal_encoders\.encoders\.([\w-]+)\.cnn\.(\d+)\.conv(\d)\.conv\.weight',
     lambda m: f'encoders.{m[1]}.blocks.{m[2]}.convs.{int(m[3]) - 1}.weight'),
    (r'signal_encoders\.encoders\.([\w-]+)\.cnn\.(\d+)\.downsample\.weight',
     lambda m: f'encoders.{m[1]}.blocks.{m[2]}.shortcut.weight'),
    (r'signal_encoders\.encoders\.([\w-]+)\.linear\.(weight|bias)',
     lambda m: f'encoders.{m[1]}.proj.{m[2]}'),
    (r'epoch_mixer\.register_tokens', lambda m: 'epoch_mixer.cls'),
    (r'epoch_mixer\.transformer_encoder\.(.+)', lambda m: f'epoch_mixer.transformer.{m[1]}'),
    (r'sequence_mixer\.dilated_convs\.(\d+)\.conv_layers\.(\d+)\.conv\.weight',
     lambda m: f'sequence_mixer.{m[1]}.convs.{3 * int(m[2])}.weight'),
    (r'sequence_mixer\.dilated_convs\.(\d+)\.conv_layers\.(\d+)\.norm\.(weight|bias)',
     lambda m: f'sequence_mixer.{m[1]}.convs.{3 * int(m[2]) + 1}.{m[3]}'),
    (r'(classifier\.(?:weight|bias))', lambda m: m[1]),
)


def load_reference_state(model: Wav2SleepTorch, state: dict[str, torch.Tensor]) -> None:
  """Load a reference checkpoint of the default architecture (checks the equivalence)."""
  renamed = {}
  for key, value in state.items():
    for pattern, name in _REFERENCE_KEYS:
      match = re.fullmatch(pattern, key)
      if match:
        renamed[name(match)] = value
        break
    else:
      raise ValueError(f'no baseline parameter for reference tensor {key!r}')
  target = model.state_dict()
  renamed['epoch_mixer.cls'] = renamed['epoch_mixer.cls'].reshape(target['epoch_mixer.cls'].shape)
  model.load_state_dict(renamed, strict=True)


def random_batch(cfg: ModelConfig, batch: int, epochs: int, seed: int = 0):
  """Random nights, one random signal absent in half of them, and random labels."""
  gen = torch.Generator().manual_seed(seed)
  x = {
      n: torch.randn(batch, epochs * signals_lib.samples_per_epoch(n), generator=gen)
      for n in cfg.signals
  }
  if len(cfg.signals) > 1:
    for b in range(0, batch, 2):
      x[cfg.signals[b % len(cfg.signals)]][b] = -math.inf
  labels = torch.randint(0, cfg.num_classes, (batch, epochs), generator=gen)
  return x, labels


def _timed(step, repeats: int, warmup: int) -> list[float]:
  for _ in range(warmup):
    step()
  times = []
  for _ in range(max(repeats, 1)):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  return times


def benchmark(kind: str,
              cfg: ModelConfig,
              batch: int,
              epochs: int,
              repeats: int = 5,
              warmup: int = 2,
              seed: int = 0) -> dict[str, object]:
  """Median seconds of a training step or an inference pass on random nights."""
  torch.manual_seed(seed)
  model = Wav2SleepTorch(cfg)
  x, labels = random_batch(cfg, batch, epochs, seed)
  if kind == 'train':
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    def step():
      opt.zero_grad(set_to_none=True)
      loss = loss_fn(model(x).reshape(-1, cfg.num_classes), labels.reshape(-1))
      loss.backward()
      nn.utils.clip_grad_norm_(model.parameters(), 1.0)
      opt.step()
  elif kind == 'infer':
    model.eval()

    def step():
      with torch.inference_mode():
        model(x)
  else:
    raise ValueError(f'kind must be train or infer, not {kind!r}')
  times = _timed(step, repeats, warmup)
  median = statistics.median(times)
  return {
      'kind': kind,
      'batch': batch,
      'epochs': epochs,
      'signals': list(cfg.signals),
      'num_params': num_params(model),
      'torch': torch.__version__,
      'threads': torch.get_num_threads(),
      'repeats_s': times,
      'median_s': median,
      's_per_night': median / batch
  }


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('kind', choices=('train', 'infer'))
  parser.add_argument('--batch', type=int, default=2)
  parser.add_argument('--hours', type=float, default=10.0)
  parser.add_argument('--signals', default=','.join(signals_lib.CARDIORESPIRATORY))
  parser.add_argument(
      '--model_json', default=None, help='ModelConfig as JSON (overrides --signals)')
  parser.add_argument('--threads', type=int, default=0, help='0: one per core')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--json', default=None)
  args = parser.parse_args(argv)
  torch.set_num_threads(args.threads or os.cpu_count() or 1)
  try:
    if args.model_json:
      from wav2sleep_jax.models import io as model_io
      cfg = model_io.config_from_dict(json.loads(args.model_json))
    else:
      cfg = ModelConfig(signals=tuple(args.signals.split(',')))
    unsupported = unsupported_fields(cfg)
    if unsupported:
      raise ValueError(f'unsupported model fields for the baseline: {", ".join(unsupported)}')
  except ValueError as e:
    parser.exit(2, f'error: {e}\n')
  epochs = max(1, round(args.hours * EPOCHS_PER_HOUR))
  result = benchmark(args.kind, cfg, args.batch, epochs, args.repeats, args.warmup)
  text = json.dumps(result, indent=2)
  print(text)
  if args.json:
    pathlib.Path(args.json).write_text(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
