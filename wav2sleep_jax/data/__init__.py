"""The JAX input pipeline: stored-night records -> normalised, cropped, batched nights (Grain)."""
