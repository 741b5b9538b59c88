"""Polysomnography parsing: EDF and WFDB channels, resampling, stage annotations, reports,
`read_night`."""

from wav2sleep_jax.psg.annotations import align_labels
from wav2sleep_jax.psg.annotations import Hypnogram
from wav2sleep_jax.psg.annotations import is_sleep_wake_only
from wav2sleep_jax.psg.annotations import read_nsrr_xml
from wav2sleep_jax.psg.annotations import read_profusion_xml
from wav2sleep_jax.psg.annotations import read_wfdb_stages
from wav2sleep_jax.psg.annotations import read_wsc_allscore
from wav2sleep_jax.psg.annotations import read_wsc_log_start
from wav2sleep_jax.psg.annotations import read_wsc_stg
from wav2sleep_jax.psg.annotations import UNSCORED
from wav2sleep_jax.psg.channels import EPOCH_SECONDS
from wav2sleep_jax.psg.channels import SIGNAL_NAMES
from wav2sleep_jax.psg.channels import signal_table
from wav2sleep_jax.psg.channels import SignalSpec
from wav2sleep_jax.psg.edf import Channel
from wav2sleep_jax.psg.edf import ChannelProblem
from wav2sleep_jax.psg.edf import EdfHeader
from wav2sleep_jax.psg.edf import find_channel
from wav2sleep_jax.psg.edf import read_header
from wav2sleep_jax.psg.edf import read_recording
from wav2sleep_jax.psg.edf import Recording
from wav2sleep_jax.psg.errors import AnnotationError
from wav2sleep_jax.psg.errors import PsgError
from wav2sleep_jax.psg.errors import RecordingError
from wav2sleep_jax.psg.night import Night
from wav2sleep_jax.psg.night import NightOptions
from wav2sleep_jax.psg.night import read_night
from wav2sleep_jax.psg.open_scoring import read_cinc2018_arousal
from wav2sleep_jax.psg.open_scoring import read_hmc_scoring
from wav2sleep_jax.psg.open_scoring import read_ucddb_stages
from wav2sleep_jax.psg.resample import resample_signal
from wav2sleep_jax.psg.resample import resample_to_epochs
from wav2sleep_jax.psg.skip_report import SkipEntry
from wav2sleep_jax.psg.skip_report import SkipReport

__all__ = [
    'align_labels',
    'AnnotationError',
    'Channel',
    'ChannelProblem',
    'EdfHeader',
    'EPOCH_SECONDS',
    'find_channel',
    'Hypnogram',
    'is_sleep_wake_only',
    'Night',
    'NightOptions',
    'PsgError',
    'read_cinc2018_arousal',
    'read_header',
    'read_hmc_scoring',
    'read_night',
    'read_nsrr_xml',
    'read_profusion_xml',
    'read_recording',
    'read_ucddb_stages',
    'read_wfdb_stages',
    'read_wsc_allscore',
    'read_wsc_log_start',
    'read_wsc_stg',
    'Recording',
    'RecordingError',
    'resample_signal',
    'resample_to_epochs',
    'SIGNAL_NAMES',
    'signal_table',
    'SignalSpec',
    'SkipEntry',
    'SkipReport',
    'UNSCORED',
]
