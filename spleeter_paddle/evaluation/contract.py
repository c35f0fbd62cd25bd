"""What ``evaluate`` accepts: its arguments (checked before any work) and a separator's output
(checked per song: a separator's fault fails that song, named as the separator's)."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Sequence

import numpy as np

from ..audio.io import resample, to_stereo
from ..errors import DataError, SpleeterError
from ..options import checked, choice, number, strict_bool, whole_number
from ..vocab import METRICS_IMPLEMENTATIONS
from .tracks import Track


def _name(separator: Any) -> str:
    return f"separator {type(separator).__name__}"


def check_separator(separator: Any) -> Sequence[str]:
    """The separator's instruments; ValueError naming ``separator`` unless it has
    ``instruments`` (distinct names), a positive whole ``sample_rate`` and ``separate()``."""
    instruments = getattr(separator, "instruments", None)
    if isinstance(instruments, (str, bytes)) or not isinstance(instruments, Sequence):
        raise ValueError(
            f"separator must have 'instruments' (a list of stem names), 'sample_rate' and"
            f" 'separate(waveform)'; got {type(separator).__name__} with instruments"
            f" {instruments!r}"
        )
    names = list(instruments)
    if (
        not names
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) < len(names)
    ):
        raise ValueError(f"separator instruments must be distinct names, got {names!r}")
    checked("separator sample_rate", whole_number, getattr(separator, "sample_rate", None), 1)
    if not callable(getattr(separator, "separate", None)):
        raise ValueError(f"separator {type(separator).__name__} has no separate(waveform) method")
    return names


def check_arguments(tracks: Any, output_dir: Any, n_workers: Any, **options: Any) -> None:
    """ValueError naming the first bad argument of ``evaluate`` (before anything is read);
    ``options`` in order, by name: ``win_s``/``hop_s`` seconds > 0, ``metrics`` an
    implementation, ``model`` a str, ``setting``/``sample`` a dict or None, the others bools."""
    if isinstance(tracks, (str, bytes, os.PathLike)) or not isinstance(tracks, Sequence):
        raise ValueError(
            f"tracks must be a list of songs (folder_tracks(...), musdb_tracks(...)), got {tracks!r}"
        )
    wrong = next((t for t in tracks if not isinstance(t, Track)), None)
    if wrong is not None:
        raise ValueError(f"tracks must hold Track objects (folder_tracks(...)), got {wrong!r}")
    try:
        path = os.fspath(output_dir)
    except TypeError:
        path = None
    if not isinstance(path, str) or "\0" in path:
        raise ValueError(
            f"output_dir must be a folder path (str or os.PathLike), got {output_dir!r}"
        )
    checked("n_workers", whole_number, n_workers, 0)
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)):
        raise ValueError(f"n_workers must be a whole number >= 0, got {n_workers!r}")
    for name, value in options.items():
        if name in ("win_s", "hop_s"):
            try:
                number(value, 0.0, exclusive_minimum=True)
            except ValueError as error:
                raise ValueError(f"{name} {error} (seconds)") from None
        elif name == "metrics":
            checked(name, choice, value, METRICS_IMPLEMENTATIONS)
        elif name == "model":
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a str, got {value!r}")
        elif name in ("setting", "sample"):
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{name} must be a dict or None, got {value!r}")
        else:
            checked(name, strict_bool, value)


def separate_track(
    separator: Any, instruments: Sequence[str], track: Track
) -> Dict[str, np.ndarray]:
    """Estimates ``{instrument: (n_samples, 2)}`` at ``track.rate``, the mixture's length;
    DataError naming the separator when it fails or returns something else."""
    mixture = track.load_mixture()
    rate = int(separator.sample_rate)
    given = resample(mixture, track.rate, rate)
    try:
        estimates = separator.separate(given)
    except SpleeterError:
        raise
    except Exception as error:  # a separator's own bug fails the song, not the run
        raise DataError(
            f"separator {type(separator).__name__} failed ({type(error).__name__}: {error})"
        ) from error
    estimates = check_estimates(separator, estimates, instruments, len(given), rate)
    if rate != track.rate:
        # Back at the song's rate; resampling's ceil can give one sample more than the mixture.
        estimates = {
            name: resample(e, rate, track.rate)[: len(mixture)] for name, e in estimates.items()
        }
    return estimates


def check_estimates(
    separator: Any, estimates: Any, instruments: Sequence[str], n_samples: int, rate: int
) -> Dict[str, np.ndarray]:
    """``{instrument: (n_samples, 2) float}`` as ``separate()`` must return them for a mixture
    of ``n_samples`` at ``rate`` Hz; DataError naming the separator otherwise (a separator's
    fault is never blamed on the data, and a NaN is never scored as a number)."""
    if not isinstance(estimates, Mapping):
        raise DataError(
            f"{_name(separator)} returned {type(estimates).__name__}, not a dict of estimates"
        )
    missing = [name for name in instruments if name not in estimates]
    if missing:
        raise DataError(
            f"{_name(separator)} returned no estimate for {', '.join(missing)} (it returned"
            f" {', '.join(map(str, estimates)) or 'nothing'}; its instruments are"
            f" {', '.join(instruments)})"
        )
    return {
        name: _estimate(separator, name, estimates[name], n_samples, rate) for name in instruments
    }


def _estimate(separator: Any, name: str, value: Any, n_samples: int, rate: int) -> np.ndarray:
    try:
        estimate = np.asarray(value)
    except Exception:  # an object NumPy cannot turn into an array
        estimate = np.asarray(None)
    if estimate.dtype.kind != "f" or estimate.ndim not in (1, 2):
        raise DataError(
            f"{_name(separator)} returned {name} as {type(value).__name__} of dtype"
            f" {estimate.dtype} and shape {estimate.shape}; expected (n_samples, 2) float"
        )
    if estimate.ndim == 2 and estimate.shape[1] not in (1, 2):
        raise DataError(
            f"{_name(separator)} returned {name} of shape {estimate.shape}; expected"
            f" ({n_samples}, 2): samples first, then channels"
        )
    if len(estimate) != n_samples:
        raise DataError(
            f"{_name(separator)} returned {len(estimate)} samples for {name}, the mixture has"
            f" {n_samples}; estimates must have the mixture's length"
        )
    bad = ~np.isfinite(estimate)
    if bad.any():
        first = int(np.argmax(bad.reshape(len(estimate), -1).any(axis=1)))
        raise DataError(
            f"{_name(separator)} returned NaN or infinite values for {name} (first at"
            f" {first / rate:.3f} s); not scoring them as numbers"
        )
    return to_stereo(estimate)
