"""Dataset building: the TFDS builder machinery behind `tfds_builders/<name>/`.

  nsrr_builder     NightsBuilder / NsrrBuilder base classes (one example per night).
  synthetic_builder  SyntheticBuilder: generated cohorts in an NSRR layout.
  build_runner     TF-free build runner (the `python -m tfds_builders.build` CLI and
                   `build()` for in-process builds such as the demo data).

Dependencies point one way: `tfds_builders` imports this package, never the reverse.
"""
