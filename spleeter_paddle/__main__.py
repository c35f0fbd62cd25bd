"""``python -m spleeter_paddle`` and Spleeter's ``spleeter.__main__``: ``spleeter`` (the Typer
application) and ``separate``, ``train`` and ``evaluate`` as functions with Spleeter's parameters,
all over :mod:`spleeter_paddle.cli` (a failure raises its :class:`SpleeterError`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import typer

from .audio.adapter import DEFAULT_ADAPTER
from .cli import call, main
from .errors import ConfigurationError
from .files import PathLike

logger = logging.getLogger(__name__)

EVALUATION_SPLIT = "test"  # Spleeter evaluates MUSDB18's test songs
EVALUATION_METRICS = ("SDR", "SAR", "SIR", "ISR")

spleeter = typer.Typer(add_completion=False, help="Spleeter music source separation on Paddle.")


@spleeter.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
def _command_line(context: typer.Context) -> None:
    """Every word goes to the command line of ``spleeter-paddle`` (try ``--help``)."""
    raise typer.Exit(main(list(context.args)))


def _flag(name: str, value: object) -> List[str]:
    """``--name=value``: a value starting with ``-`` stays a value."""
    if value is None:
        return []
    return [f"{name}={os.fspath(value) if hasattr(value, '__fspath__') else value}"]


def separate(
    deprecated_files: Optional[str] = None,
    files: Sequence[PathLike] = (),
    adapter: str = DEFAULT_ADAPTER,
    bitrate: str = "128k",
    codec: str = "wav",
    duration: Optional[float] = None,
    offset: float = 0.0,
    output_path: PathLike = "separated_audio",
    filename_format: str = "{filename}/{instrument}.{codec}",
    params_filename: str = "spleeter:2stems",
    mwf: bool = False,
    verbose: bool = False,
) -> None:
    """Spleeter's ``separate`` command as a function (``duration`` None: whole files)."""
    if deprecated_files is not None:
        raise ConfigurationError(
            "-i option is not supported anymore, audio files must be supplied using the files "
            "argument instead"
        )
    if isinstance(files, (str, bytes, os.PathLike)):
        raise ConfigurationError(f"files must be a list of paths, got {files!r}")
    argv = ["separate"] + _flag("--adapter", adapter) + _flag("--bitrate", bitrate)
    argv += _flag("--codec", getattr(codec, "value", codec)) + _flag("--duration", duration)
    argv += _flag("--offset", offset) + _flag("--output_path", output_path)
    argv += _flag("--filename_format", filename_format)
    argv += _flag("--params_filename", params_filename)
    argv += (["--mwf"] if mwf else []) + (["--verbose"] if verbose else [])
    call(argv + ["--", *(os.fspath(name) for name in files)])  # file names are never options


def train(
    adapter: str = DEFAULT_ADAPTER,
    data: PathLike = "dataset",
    params_filename: str = "spleeter:2stems",
    verbose: bool = False,
) -> None:
    """Spleeter's ``train`` command as a function: train the configuration's model on ``data``."""
    argv = ["train"] + _flag("--adapter", adapter) + _flag("--data", data)
    call(argv + _flag("--params_filename", params_filename) + (["--verbose"] if verbose else []))


def evaluate(
    adapter: str = DEFAULT_ADAPTER,
    output_path: PathLike = "eval_output",
    params_filename: str = "spleeter:2stems",
    mus_dir: Optional[PathLike] = None,
    mwf: bool = False,
    verbose: bool = False,
) -> Dict[str, Dict[str, List[float]]]:
    """Spleeter's ``evaluate`` as a function: scores the test songs of ``mus_dir`` and returns
    ``{instrument: {metric: [median over each song's frames, one per song]}}``."""
    if mus_dir is None:
        raise ConfigurationError("evaluate needs mus_dir, the MUSDB18 folder")
    argv = ["evaluate"] + _flag("--adapter", adapter) + _flag("--output_path", output_path)
    argv += _flag("--params_filename", params_filename) + _flag("--mus_dir", mus_dir)
    with _workers_without_your_script():
        call(argv + (["--mwf"] if mwf else []) + (["--verbose"] if verbose else []))
    return compile_metrics(Path(output_path), Path(mus_dir))


@contextlib.contextmanager
def _workers_without_your_script() -> Iterator[None]:
    """Spawned metric workers run the caller's main script again unless it is guarded
    (Spleeter's evaluate needs no guard): while they start, the main module hides its file."""
    main = sys.modules.get("__main__")
    file, spec = getattr(main, "__file__", None), getattr(main, "__spec__", None)
    try:
        if file is not None:
            del main.__file__
        if spec is not None:
            main.__spec__ = None
        yield
    finally:
        if file is not None:
            main.__file__ = file
        if spec is not None:
            main.__spec__ = spec


def compile_metrics(output_path: Path, mus_dir: Path) -> Dict[str, Dict[str, List[float]]]:
    """Spleeter's metrics dict from this run's song JSON (museval's format): per instrument and
    metric, each song's median over its frames, NaN frames left out (``results.csv``'s score)."""
    from .evaluation.aggregate import song_scores
    from .evaluation.report import METRICS_DIRECTORY

    songs = sorted(path.name for path in (mus_dir / EVALUATION_SPLIT).iterdir() if path.is_dir())
    folder = output_path / METRICS_DIRECTORY / EVALUATION_SPLIT
    scores = {
        f"{EVALUATION_SPLIT}/{song}": json.loads((folder / f"{song}.json").read_text())
        for song in songs
    }
    metrics: Dict[str, Dict[str, List[float]]] = {}
    for row in song_scores(scores).itertuples(index=False):
        values = metrics.setdefault(row.target, {name: [] for name in EVALUATION_METRICS})
        values[row.metric].append(float(row.score))
    return metrics


def entrypoint() -> None:
    """Spleeter's console entry point: the command line, its exit status."""
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
