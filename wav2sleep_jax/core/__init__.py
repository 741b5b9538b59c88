"""Shared vocabulary and plumbing: signal grid, stage names, CLI conventions, output
paths, device mesh.

Shape legend. Array names end in one capital letter per axis (`x_BT`, `logits_BSK`), one
meaning per letter across the whole package:
  B nights (batch; nights x epochs where a model flattens them), S 30-s epochs,
  T signal samples, L encoder time steps, C channels, F features, M modalities (signals),
  N tokens, R class and register tokens, H attention heads, D head dim, K classes,
  G stacked same-rate encoders, W kernel taps, I / O kernel input / output channels.
"""
