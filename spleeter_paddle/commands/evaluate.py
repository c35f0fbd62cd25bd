"""``spleeter-paddle evaluate`` and the seed's ``eval.py``: parse flags, evaluate, print the table.

``add_arguments(parser)`` + ``run(args)`` are Spleeter's flags (``--mus_dir``, ``-p``, ``--mwf``,
``-o``); ``main(argv)`` is the seed's ``eval.py -npn N -seed S`` (a random tenth, latest model).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import List, Optional

from ..logs import one_line
from ..vocab import METRICS_IMPLEMENTATIONS
from . import run_script
from .flags import add_adapter_flag, add_device_flag, add_is_wav_flag, check_default_adapter

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = "eval_output"
DEFAULT_SEED_DATA = "dataset"


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-npn",
        "--workers",
        dest="workers",
        type=int,
        default=os.cpu_count() or 1,
        help="metrics worker processes (default: all cores)",
    )
    parser.add_argument("-seed", "--seed", dest="seed", type=int, default=0, help="sampling seed")
    add_is_wav_flag(parser, help="--mus_dir holds MUSDB18-HQ wav folders (default: detected)")
    parser.add_argument(
        "--subset",
        dest="subsets",
        nargs="+",
        metavar="NAME",
        help="splits to evaluate (default: test for --mus_dir, all for --data)",
    )
    parser.add_argument("--mwf", action="store_true", help="multichannel Wiener filtering")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="score songs again even if their JSON exists (default: resume), and replace report"
        " files and stems at the output paths that this tool did not write (never an input)",
    )
    add_device_flag(parser, help="auto, cpu, gpu or sdaa (separation)")
    add_adapter_flag(parser)
    parser.add_argument(
        "--metrics",
        choices=METRICS_IMPLEMENTATIONS,
        default="fast",
        help="BSSEval v4 implementation: fast (museval's scores within 1e-3 dB, about 10x"
        " faster; default) or museval (the reference)",
    )
    parser.add_argument(
        "--no-stability-check",
        dest="check_stability",
        action="store_false",
        help="do not flag numerically unstable SIR/SAR/ISR (saves 15-25%% of metrics time)",
    )
    parser.add_argument(
        "--segment-frames",
        dest="segment_frames",
        type=int,
        default=None,
        help="STFT frames per separation segment (default 512, as Spleeter; a multiple of 64;"
        " never the model's training crop T)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.add_argument(
        "--no-audio",
        dest="audio",
        action="store_false",
        help="do not keep the separated stems in <output>/audio/ (Spleeter keeps them)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``spleeter-paddle evaluate`` (Spleeter's, plus workers, sampling, resume)."""
    parser.add_argument(
        "-p",
        "--params_filename",
        "--model",
        dest="model",
        default="spleeter:2stems",
        help="spleeter:<preset>, a config JSON, a model directory, or 'latest'",
    )
    parser.add_argument(
        "-o",
        "--output_path",
        dest="output",
        default=DEFAULT_OUTPUT,
        help=f"where JSON, results.csv, summary.json, sdr.png go (default {DEFAULT_OUTPUT})",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mus_dir", "--mus-dir", dest="mus_dir", help="MUSDB18 root (musdb.DB)")
    source.add_argument("--data", help="folder of songs: <song>/mixture.wav + stems (seed layout)")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of songs to evaluate")
    _common_arguments(parser)


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the seed's ``eval.py`` (same names; defaults: a tenth of ``dataset/``, latest model)."""
    parser.add_argument("--fraction", type=float, default=0.1, help="share of songs (default 0.1)")
    parser.add_argument(
        "--model",
        "-p",
        dest="model",
        default="latest",
        help="latest (newest trained model under the model home), a model directory,"
        " spleeter:<preset> or a config JSON",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help=f"folder of songs (default {DEFAULT_SEED_DATA}/)")
    source.add_argument("--mus_dir", "--mus-dir", dest="mus_dir", help="MUSDB18 root (musdb.DB)")
    parser.add_argument(
        "-o",
        "--output",
        dest="output",
        default=DEFAULT_OUTPUT,
        help=f"output directory (default {DEFAULT_OUTPUT})",
    )
    _common_arguments(parser)


def _check_options(args: argparse.Namespace) -> None:
    """Validate the numeric options before reading anything (ConfigurationError, exit 2)."""
    from ..errors import ConfigurationError
    from ..options import fraction, segment_frames, whole_number

    for flag, check, value in (
        ("--fraction", fraction, args.fraction),
        ("-npn/--workers", lambda workers: whole_number(workers, 0), args.workers),
        ("--segment-frames", segment_frames, args.segment_frames),
    ):
        try:
            if value is not None:
                check(value)
        except ValueError as error:
            raise ConfigurationError(f"{flag} {value}: {error}") from None


def _check_not_the_dataset(output: str, dataset: str) -> None:
    """``-o`` may not be the dataset's folder or hold it: its ``audio/`` and ``metrics/``
    folders would be read back as subsets of songs (ConfigurationError, before anything runs).
    An ``-o`` inside it is skipped when songs are read."""
    from ..errors import ConfigurationError
    from ..files import is_within

    if is_within(dataset, output):
        raise ConfigurationError(
            f"-o/--output_path {output} is (or holds) the dataset {dataset}: its audio/ and "
            "metrics/ folders would be read as songs next time; choose another folder"
        )


def _check_model(args: argparse.Namespace) -> None:
    """The model's config exists and can separate with ``--segment-frames`` (before loading)."""
    from ..configuration import load_configuration
    from ..evaluation import resolve_model
    from ..separation.separator import SEPARATION_FRAMES, check_segment_frames

    params = load_configuration(resolve_model(args.model)[0])
    frames = SEPARATION_FRAMES if args.segment_frames is None else args.segment_frames
    check_segment_frames(params, frames)


def _sample(tracks, selected, fraction: float, seed: int) -> dict:
    """How the songs were drawn, for the summary."""
    return {
        "fraction": fraction,
        "seed": seed,
        "of": len(tracks),
        "selected": len(selected),
        "songs": [track.key for track in selected],
    }


def run(args: argparse.Namespace) -> int:
    """Evaluate as ``args`` say and print the table; SpleeterError on bad input. Exit status 1
    when some songs failed (each named on an ``ERROR <song>: <problem>`` line)."""
    from ..evaluation import (
        evaluate,
        folder_tracks,
        format_table,
        load_separator,
        musdb_tracks,
        sample_tracks,
    )
    from ..evaluation.report import check_output_folder

    _check_options(args)
    check_default_adapter(args.adapter, "evaluate")
    _check_not_the_dataset(args.output, args.mus_dir or args.data or DEFAULT_SEED_DATA)
    check_output_folder(args.output, overwrite=args.overwrite)
    if args.mus_dir:
        tracks = musdb_tracks(args.mus_dir, args.subsets or ["test"], is_wav=args.is_wav)
    else:
        tracks = folder_tracks(args.data or DEFAULT_SEED_DATA, args.subsets)
    selected = sample_tracks(tracks, args.fraction, args.seed)
    check_output_folder(args.output, {track.subset for track in selected}, args.overwrite)
    _check_model(args)
    logger.info(
        "evaluating %d of %d songs (fraction %g, seed %d)",
        len(selected),
        len(tracks),
        args.fraction,
        args.seed,
    )
    separator, label = load_separator(
        args.model, mwf=args.mwf, device=args.device, segment_frames=args.segment_frames
    )
    if args.mwf:
        label += " (MWF)"
    result = evaluate(
        separator,
        selected,
        args.output,
        n_workers=args.workers,
        overwrite=args.overwrite,
        model=label,
        progress=args.progress,
        sample=_sample(tracks, selected, args.fraction, args.seed),
        check_stability=args.check_stability,
        metrics=args.metrics,
        audio=args.audio,
    )
    print(format_table(result.summary))
    print(
        f"outputs: {one_line(str(result.output_dir))}/ (metrics/: per-song JSON; "
        + ("audio/: the separated stems; " if args.audio else "")
        + "results.csv with per-song values, summary.json, sdr.png)"
    )
    if result.failed:
        logger.error(
            "%d of %d songs failed and were not scored: %s",
            len(result.failed),
            len(selected),
            ", ".join(result.failed),
        )
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """``python eval.py ...``: returns the exit status (errors: one line on stderr)."""
    return run_script(
        add_seed_arguments,
        run,
        argv,
        prog="eval.py",
        description="Score a model with museval (BSSEval v4) on a random share of the songs.",
        interrupted="interrupted (finished songs are saved; run again to resume)",
    )
