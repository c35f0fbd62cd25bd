"""Where an evaluation writes, as Spleeter's ``evaluate`` does: the per-song JSON in
``<output>/metrics/<subset>/``, the stems in ``<output>/audio/<subset>/<song>/`` and the report
files in ``<output>/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Union

import numpy as np

if TYPE_CHECKING:
    from .tracks import Track

RESULTS_CSV, SUMMARY_JSON, SDR_PLOT = "results.csv", "summary.json", "sdr.png"
METRICS_DIRECTORY, AUDIO_DIRECTORY = "metrics", "audio"  # Spleeter's evaluation layout


def is_summary(document: Any) -> bool:
    """``document`` (``summary.json`` read) is an evaluation summary this tool wrote."""
    return isinstance(document, dict) and {"museval", "targets", "run"} <= set(document)


def is_report_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an evaluation report (its ``summary.json``, written by this tool):
    an output, never a song, wherever it was written (``evaluate -o <data>/test/x``)."""
    path = Path(folder) / SUMMARY_JSON
    try:
        return path.is_file() and is_summary(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return False


def json_path(output_dir: Union[str, Path], track: Track) -> Path:
    """``<output_dir>/metrics/<subset>/<song>.json``, where ``museval.eval_mus_track`` writes it
    for ``output_dir=<output_dir>/metrics``."""
    return Path(output_dir) / METRICS_DIRECTORY / track.subset / f"{track.name}.json"


def write_estimates(
    output_dir: Union[str, Path], track: Track, estimates: Dict[str, np.ndarray], overwrite: bool
) -> Dict[str, Path]:
    """The song's separated stems as 16-bit WAV (as Spleeter writes them), tagged as stems of
    the song, all renamed into place together; an earlier file there that this tool did not
    write for this song is kept (AudioError) unless ``overwrite``; a file the song is read from
    or a folder leading out of ``<output_dir>/audio`` is never written (whatever ``overwrite``
    says)."""
    from ..separation import outputs  # the separation layer: only when stems are written

    root = Path(output_dir) / AUDIO_DIRECTORY
    paths = {name: root / track.subset / track.name / f"{name}.wav" for name in estimates}
    for path in paths.values():
        outputs.check_inside(Path(track.location), root, path)
    outputs.check_not_inputs({track.location: paths}, track.files().values())
    outputs.save_stems(
        paths, track.location, outputs.OutputFormat(), None, overwrite, track.rate, estimates
    )
    return paths
