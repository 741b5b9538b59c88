"""Deterministic synthetic polysomnography in the NSRR cohorts' on-disk layouts.

    night = generate_night('mesa', seed=0, night_index=3, hours=0.5)
    night.labels            # int8 per 30-s epoch: 0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 unscored
    night.signals['EKG']    # (float32 samples, native rate)
    write_cohort('shhs', n_nights=4, output_dir='/tmp/shhs', seed=0, hours=1.0)

Modules: stage_sequence (sleep architecture), events (apneas, arousals, ...), physiology
(latent heart/breathing/vascular drivers), ecg / ppg / respiration / eeg / eye_movements (EOG) /
oximetry (channel renderers), layouts (per-cohort layout), night_generator (assembly),
scorer_codes (the scorer's stage codes and their texts), edf_writer (EDF, defects), writers (NSRR
XML, WSC text; `write_night` for every layout), open_writers (the open datasets' files).
"""

from wav2sleep_jax.synthetic.edf_writer import Defects
from wav2sleep_jax.synthetic.layouts import ChannelSpec
from wav2sleep_jax.synthetic.layouts import COHORTS
from wav2sleep_jax.synthetic.layouts import CohortSpec
from wav2sleep_jax.synthetic.night_generator import Channel
from wav2sleep_jax.synthetic.night_generator import generate_night
from wav2sleep_jax.synthetic.night_generator import Night
from wav2sleep_jax.synthetic.writers import iter_write_cohort
from wav2sleep_jax.synthetic.writers import write_cohort
from wav2sleep_jax.synthetic.writers import write_night

__all__ = [
    'COHORTS', 'Channel', 'ChannelSpec', 'CohortSpec', 'Defects', 'Night', 'generate_night',
    'iter_write_cohort', 'write_cohort', 'write_night'
]
