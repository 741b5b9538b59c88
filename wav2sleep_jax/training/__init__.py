"""Training library: step, optimizer, augmentation, checkpoints, the trainer."""
