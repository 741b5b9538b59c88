"""Evaluation library: confusion matrices, kappa/accuracy, per-subset tables."""
