"""Inference library: load a model, stage nights, write CSV/plots, export StableHLO."""
