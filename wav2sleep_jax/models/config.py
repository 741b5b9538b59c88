"""Model configuration: every knob of the reference wav2sleep model."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Mapping

from wav2sleep_jax import signals as signals_lib

Norm = Literal['instance', 'layer', 'none']
EncoderImpl = Literal['auto', 'vmap', 'loop']


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyper-parameters of wav2sleep (defaults = reference HEAD, 4 signals, 4 classes).

  Attributes:
    signals: canonical signal names, in the order of the mask's M axis.
    num_classes: 4 (W, Light, Deep, REM) or 5 (W, N1, N2, N3, REM).
    feature_dim: width F shared by encoders, epoch mixer and sequence mixer.
    activation: 'gelu' (exact erf form, like torch) or 'relu'.
    encoder_initial_channels: channels of the first encoder block.
    encoder_max_channels: cap of the default schedule min(initial * 2**(i//2), max).
    encoder_channels: per-signal explicit channel schedule overriding the default,
      e.g. {'ABD': (16, 32, 64, 64, 128, 128)} (the paper's respiratory encoders).
    encoder_norm: 'instance' (over time, no affine), 'layer' (over channels, no
      affine) or 'none'.
    instance_norm_eps: epsilon of the encoder instance norm (reference: 1e-2).
    encoder_downsample: 'stride' (third conv of a block has stride 2, HEAD) or
      'maxpool' (three stride-1 convs then max-pool(2), the paper-era variant).
    encoder_residual: add the 1x1-conv shortcut in every encoder block.
    encoder_output_norm: layer-norm the encoder output features.
    encoder_impl: run same-rate encoders stacked with vmap ('vmap'), one after
      the other ('loop'), or pick per backend ('auto': loop on CPU, vmap else).
    mixer_layers / mixer_heads / mixer_ff_dim: epoch-mixer transformer shape.
    dropout: dropout rate of epoch mixer and sequence mixer.
    sequence_blocks: residual dilated-conv blocks in the sequence mixer.
    sequence_kernel_size: kernel of the dilated convs.
    sequence_dilations: dilation of each conv layer inside a block.
    sequence_norm: 'layer' (channel layer norm with affine) or 'none'.
    layer_norm_eps: epsilon of every affine layer norm (torch default 1e-5).
    causal: left-only padding everywhere and epoch-local encoder normalisation,
      so logits at epoch t depend only on inputs up to the end of epoch t.
    dtype: compute dtype ('float32' or 'bfloat16'); parameters stay float32.
    remat: rematerialise the encoders (jax.checkpoint around each encoder block):
      only block inputs are kept for the backward pass, everything inside a block
      is recomputed, trading compute for memory. Ours, not the reference's;
      outputs and gradients are unchanged. On CPU the training step must be
      compiled with `wav2sleep.compiler_options(cfg)` for it to take effect.
  """

  signals: tuple[str, ...] = signals_lib.CARDIORESPIRATORY
  num_classes: int = 4
  feature_dim: int = 128
  activation: Literal['gelu', 'relu'] = 'gelu'
  encoder_initial_channels: int = 16
  encoder_max_channels: int = 128
  encoder_channels: Mapping[str, tuple[int, ...]] | tuple = ()
  encoder_norm: Norm = 'instance'
  instance_norm_eps: float = 1e-2
  encoder_downsample: Literal['stride', 'maxpool'] = 'stride'
  encoder_residual: bool = True
  encoder_output_norm: bool = False
  encoder_impl: EncoderImpl = 'auto'
  mixer_layers: int = 2
  mixer_heads: int = 8
  mixer_ff_dim: int = 512
  dropout: float = 0.1
  sequence_blocks: int = 2
  sequence_kernel_size: int = 7
  sequence_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
  sequence_norm: Literal['layer', 'none'] = 'layer'
  layer_norm_eps: float = 1e-5
  causal: bool = False
  dtype: Literal['float32', 'bfloat16'] = 'float32'
  remat: bool = False

  def __post_init__(self):
    # Stored as sorted (name, schedule) pairs so the config stays hashable.
    pairs = (self.encoder_channels.items()
             if isinstance(self.encoder_channels, Mapping) else self.encoder_channels)
    object.__setattr__(self, 'encoder_channels', tuple(
        sorted((str(k), tuple(int(c) for c in v)) for k, v in pairs)))
    object.__setattr__(self, 'signals', tuple(self.signals))
    object.__setattr__(self, 'sequence_dilations', tuple(self.sequence_dilations))
    if not self.signals:
      raise ValueError('ModelConfig.signals must name at least one signal.')
    if len(set(self.signals)) != len(self.signals):
      raise ValueError(f'Duplicate signals in {self.signals}.')
    for name in self.signals:
      signals_lib.samples_per_epoch(name)  # Raises on unknown names.
    unknown = set(dict(self.encoder_channels)) - set(self.signals)
    if unknown:
      raise ValueError(f'encoder_channels names unknown signals {sorted(unknown)}.')
    for name in self.signals:
      expected = self.num_encoder_blocks(name)
      got = len(self.channel_schedule(name))
      if got != expected:
        raise ValueError(
            f'{name}: {signals_lib.samples_per_epoch(name)} samples per epoch need '
            f'{expected} encoder blocks (4 outputs per epoch), schedule has {got}.'
        )
    if self.feature_dim % self.mixer_heads:
      raise ValueError(
          f'feature_dim {self.feature_dim} not divisible by {self.mixer_heads} heads.'
      )
    if self.sequence_kernel_size % 2 != 1:
      raise ValueError('sequence_kernel_size must be odd for same padding.')

  def num_encoder_blocks(self, name: str) -> int:
    """Blocks halving the length from k samples per epoch down to 4."""
    k = signals_lib.samples_per_epoch(name)
    return int(math.log2(k)) - 2

  def channel_schedule(self, name: str) -> tuple[int, ...]:
    """Output channels of each encoder block for one signal."""
    overrides = dict(self.encoder_channels)
    if name in overrides:
      return overrides[name]
    return tuple(
        min(self.encoder_initial_channels * 2 ** (i // 2), self.encoder_max_channels)
        for i in range(self.num_encoder_blocks(name))
    )

  def replace(self, **changes) -> 'ModelConfig':
    return dataclasses.replace(self, **changes)
