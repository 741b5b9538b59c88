"""Model configuration: every knob of the reference wav2sleep model."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Mapping

from wav2sleep_jax.core import signals as signals_lib

# Every value below is the reference's spelling (case-sensitive).
Activation = Literal['gelu', 'relu', 'leaky', 'silu', 'linear']
Norm = Literal['instance', 'layer', 'rms', 'group', 'batch', 'none']
EncoderNorm = Literal['instance', 'layer', 'rms', 'group', 'batch', 'auto', 'none']
CausalMode = Literal['streaming', 'chunked', 'conv']
EncoderImpl = Literal['auto', 'vmap', 'loop']

ACTIVATIONS = ('gelu', 'relu', 'leaky', 'silu', 'linear')
NORMS = ('instance', 'layer', 'rms', 'group', 'batch', 'none')
ENCODER_NORMS = NORMS[:-1] + ('auto', 'none')
CAUSAL_MODES = ('streaming', 'chunked', 'conv')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyper-parameters of wav2sleep (defaults = reference HEAD, 4 signals, 4 classes).

  Attributes:
    signals: canonical signal names, in the order of the mask's M axis.
    num_classes: 4 (W, Light, Deep, REM) or 5 (W, N1, N2, N3, REM).
    feature_dim: width F shared by encoders, epoch mixer and sequence mixer.
    activation: encoder activation: 'gelu' (exact erf form, like torch), 'relu',
      'leaky' (slope 0.01), 'silu' or 'linear' (identity).
    mixer_activation / sequence_activation: the same for the epoch mixer's
      feed-forward and the sequence mixer (None = `activation`).
    encoder_initial_channels: channels of the first encoder block.
    encoder_max_channels: cap of the default schedule min(initial * 2**(i//2), max).
    encoder_channels: per-signal explicit channel schedule overriding the default,
      e.g. {'ABD': (16, 32, 64, 64, 128, 128)} (the paper's respiratory encoders).
    encoder_norm: norm after each encoder conv, as the reference's: 'instance'
      (over time, no affine, eps `instance_norm_eps`), 'layer' (over channels,
      affine), 'rms' (over channels, scale only), 'group' (`group_norm_groups`
      groups, affine), 'batch' (eval-mode running statistics folded into a
      per-channel scale and bias), 'auto' (instance in blocks 0-1, layer after)
      or 'none' (the convs then have a bias, like the reference's).
    instance_norm_eps: epsilon of the encoder instance norm (reference: 1e-2).
    group_norm_groups: groups of 'group' norms (fewer channels: one per channel).
    encoder_downsample: 'stride' (third conv of a block has stride 2, HEAD) or
      'maxpool' (three stride-1 convs then max-pool(2), the paper-era variant).
    encoder_residual: add the 1x1-conv shortcut in every encoder block.
    encoder_output_norm: layer-norm the encoder output features.
    encoder_signal_embedding: add a learned per-signal vector to each encoder
      output (the reference's `embed_signals`).
    encoder_impl: run same-rate encoders stacked with vmap ('vmap'), one after
      the other ('loop'), or pick per backend ('auto': loop on CPU, vmap else).
    mixer_layers / mixer_heads / mixer_ff_dim: epoch-mixer transformer shape.
    mixer_norm_first: pre-norm (True) or post-norm (False) transformer layers.
    mixer_register_tokens: learned tokens besides CLS in every epoch's attention.
    dropout: dropout rate of the epoch mixer (and sequence mixer by default).
    sequence_dropout: dropout rate of the sequence mixer (None = `dropout`).
    sequence_blocks: residual dilated-conv blocks in the sequence mixer.
    sequence_kernel_size: kernel of the dilated convs (odd unless causal).
    sequence_dilations: dilation of each conv layer inside a block.
    sequence_norm: norm after each dilated conv (values as `encoder_norm`
      without 'auto'; 'instance' uses `layer_norm_eps` over the night).
    layer_norm_eps: epsilon of every norm but the encoder instance norm.
    causal: logits at epoch t use no input after epoch t (up to the normalisation
      of `causal_mode` 'conv'): left-only padding in the sequence mixer and
      causal encoders as `causal_mode` says.
    causal_mode: how causal encoders work.
      'streaming' (ours): causal convs (left padding k - stride) and epoch-local
        instance statistics: strictly causal, for streaming use.
      'chunked' (the reference's `chunk_causal: true`, its default): every 30-s
        epoch encoded on its own, zero padding and norm statistics per epoch.
      'conv' (the reference's `chunk_causal: false`): causal convs (left
        padding (k - 1) * dilation) with norm statistics over the whole night.
    sequence_causal: causal sequence mixer (None = `causal`).
    dtype: compute dtype ('float32' or 'bfloat16'); parameters stay float32.
    exact_padding: training passes each night's valid epochs (the batch's
      `valid_epochs`) to the model, so the zero padding of nights shorter than
      the window changes nothing (`Wav2Sleep.__call__`'s `valid_epochs_B`).
      Ours; False = the reference's behaviour (the norms see the padding).
      Evaluation and prediction always pad exactly (records of `reference`
      preprocessing run on their stored grid, as in the reference).
    remat: rematerialise the encoders (jax.checkpoint around each encoder block):
      only block inputs are kept for the backward pass, everything inside a block
      is recomputed, trading compute for memory. Ours, not the reference's;
      outputs and gradients are unchanged. On CPU the training step must be
      compiled with `wav2sleep.compiler_options(cfg)` for it to take effect.
  """

  signals: tuple[str, ...] = signals_lib.CARDIORESPIRATORY
  num_classes: int = 4
  feature_dim: int = 128
  activation: Activation = 'gelu'
  mixer_activation: Activation | None = None
  sequence_activation: Activation | None = None
  encoder_initial_channels: int = 16
  encoder_max_channels: int = 128
  encoder_channels: Mapping[str, tuple[int, ...]] | tuple = ()
  encoder_norm: EncoderNorm = 'instance'
  instance_norm_eps: float = 1e-2
  group_norm_groups: int = 8
  encoder_downsample: Literal['stride', 'maxpool'] = 'stride'
  encoder_residual: bool = True
  encoder_output_norm: bool = False
  encoder_signal_embedding: bool = False
  encoder_impl: EncoderImpl = 'auto'
  mixer_layers: int = 2
  mixer_heads: int = 8
  mixer_ff_dim: int = 512
  mixer_norm_first: bool = True
  mixer_register_tokens: int = 0
  dropout: float = 0.1
  sequence_dropout: float | None = None
  sequence_blocks: int = 2
  sequence_kernel_size: int = 7
  sequence_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
  sequence_norm: Norm = 'layer'
  layer_norm_eps: float = 1e-5
  causal: bool = False
  causal_mode: CausalMode = 'streaming'
  sequence_causal: bool | None = None
  dtype: Literal['float32', 'bfloat16'] = 'float32'
  remat: bool = False
  exact_padding: bool = False

  def __post_init__(self):
    # Stored as sorted (name, schedule) pairs so the config stays hashable.
    pairs = (
        self.encoder_channels.items()
        if isinstance(self.encoder_channels, Mapping) else self.encoder_channels)
    object.__setattr__(self, 'encoder_channels',
                       tuple(sorted((str(k), tuple(int(c) for c in v)) for k, v in pairs)))
    object.__setattr__(self, 'signals', tuple(self.signals))
    object.__setattr__(self, 'sequence_dilations', tuple(self.sequence_dilations))
    self._check_choices()
    self._check_signals()
    if self.feature_dim % self.mixer_heads:
      raise ValueError(f'feature_dim {self.feature_dim} not divisible by {self.mixer_heads} heads.')
    if self.sequence_kernel_size % 2 != 1 and not self.sequence_is_causal:
      raise ValueError('sequence_kernel_size must be odd for same padding '
                       '(even kernels need a causal sequence mixer).')
    for name in self.signals:
      for i, c in enumerate(self.channel_schedule(name)):
        if self.block_norm(i) == 'group' and c % self.norm_groups(c):
          raise ValueError(f'{name} encoder block {i}: {c} channels not divisible by '
                           f'{self.group_norm_groups} norm groups.')
    if self.sequence_norm == 'group' and self.feature_dim % self.norm_groups(self.feature_dim):
      raise ValueError(f'feature_dim {self.feature_dim} not divisible by '
                       f'{self.group_norm_groups} norm groups.')

  def _check_choices(self):
    """Enum fields hold a known value, counts are positive integers."""
    choices = dict(
        activation=ACTIVATIONS,
        mixer_activation=ACTIVATIONS + (None,),
        sequence_activation=ACTIVATIONS + (None,),
        encoder_norm=ENCODER_NORMS,
        sequence_norm=NORMS,
        causal_mode=CAUSAL_MODES)
    for field, allowed in choices.items():
      value = getattr(self, field)
      if value not in allowed:
        raise ValueError(f'{field}={value!r} is not supported (expected one of '
                         f'{", ".join(map(repr, allowed))}).')
    positive = ('num_classes', 'feature_dim', 'encoder_initial_channels', 'encoder_max_channels',
                'group_norm_groups', 'mixer_layers', 'mixer_heads', 'mixer_ff_dim',
                'sequence_kernel_size')
    for field in positive:
      value = getattr(self, field)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{field}={value!r} must be a positive integer.')
    if self.num_classes < 2:
      raise ValueError(f'num_classes={self.num_classes} must be at least 2.')
    if self.mixer_register_tokens < 0 or self.sequence_blocks < 0:
      raise ValueError('mixer_register_tokens and sequence_blocks must be >= 0.')
    if not self.sequence_dilations or min(self.sequence_dilations) < 1:
      raise ValueError(f'sequence_dilations {self.sequence_dilations} must be >= 1.')

  def _check_signals(self):
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
        raise ValueError(f'{name}: {signals_lib.samples_per_epoch(name)} samples per epoch need '
                         f'{expected} encoder blocks (4 outputs per epoch), schedule has {got}.')

  @property
  def sequence_is_causal(self) -> bool:
    return self.causal if self.sequence_causal is None else self.sequence_causal

  def part_activation(self, part: Literal['encoder', 'mixer', 'sequence']) -> str:
    """Activation name of one part of the model."""
    own = {
        'encoder': self.activation,
        'mixer': self.mixer_activation,
        'sequence': self.sequence_activation
    }[part]
    return self.activation if own is None else own

  def block_norm(self, block: int) -> str:
    """Norm of encoder block `block` ('auto' resolved as the reference does)."""
    if self.encoder_norm == 'auto':
      return 'instance' if block < 2 else 'layer'
    return self.encoder_norm

  def norm_groups(self, channels: int) -> int:
    """Groups of a 'group' norm over `channels` (one per channel if fewer)."""
    return min(self.group_norm_groups, channels)

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
        min(self.encoder_initial_channels * 2**(i // 2), self.encoder_max_channels)
        for i in range(self.num_encoder_blocks(name)))

  def replace(self, **changes) -> 'ModelConfig':
    return dataclasses.replace(self, **changes)
