"""Training library: step, optimizer, augmentation, losses, checkpoints, the trainer."""
