"""Shared vocabulary and plumbing: signal grid, stage names, CLI conventions, host heap,
device mesh."""
