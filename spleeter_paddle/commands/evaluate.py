"""``spleeter-paddle evaluate`` and the seed's ``eval.py``: parse flags, evaluate, print the table.

``add_arguments(parser)`` + ``run(args)`` are Spleeter's flags (``--mus_dir``, ``-p``, ``--mwf``,
``-o``); ``main(argv)`` is the seed's ``eval.py -npn N -seed S`` (a random tenth, latest model).
``-npn N`` runs N separating processes (cards) per node, as the seed's; the metrics processes
of each are ``--metric-workers`` (what ``-npn`` meant here before; ``--workers`` still names it).
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from typing import List, Optional, Tuple

from ..errors import ConfigurationError
from ..files import is_within
from ..logs import one_line
from ..options import checked, cpu_threads, folder_name, fraction, segment_frames, whole_number
from ..vocab import METRICS_IMPLEMENTATIONS
from . import argument_type, run_script
from .flags import (
    ADAPTER,
    CONFIG,
    CONFIGURATION,
    DEVICE,
    IS_WAV,
    MWF,
    OVERWRITE,
    SEGMENT_FRAMES,
    Flag,
    add_flags,
    add_launch_flags,
    check_default_adapter,
    flag,
    launch_options,
)

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = "eval_output"
DEFAULT_SEED_DATA = "dataset"


# fmt: off
COMMON_FLAGS = (
    flag("--metric-workers", "--workers", dest="workers", type=int, default=os.cpu_count() or 1,
         help="metrics worker processes of each separating process (default: all cores; 0: in that"
         " process). -npn is the number of separating processes (cards), as in the seed"),
    flag("-seed", "--seed", dest="seed", type=int, default=0, help="sampling seed"),
    IS_WAV.but(help="--mus_dir holds MUSDB18-HQ wav folders (default: detected)"),
    flag("--subset", dest="subsets", nargs="+", metavar="NAME",
         type=argument_type(folder_name, subject="--subset"),
         help="splits to evaluate (default: test for --mus_dir, all for --data)"),
    MWF,
    OVERWRITE.but(help="score songs again even if their JSON exists (default: resume), and replace report"
                  " files and stems at the output paths that this tool did not write (never an input)"),
    DEVICE.but(help="auto, cpu, gpu or sdaa (separation)"),
    ADAPTER,
    flag("--metrics", choices=METRICS_IMPLEMENTATIONS, default="fast",
         help="BSSEval v4 implementation: fast (museval's scores within 1e-3 dB, about 10x faster;"
         " default) or museval (the reference)"),
    flag("--no-stability-check", dest="check_stability", action="store_false",
         help="do not flag numerically unstable SIR/SAR/ISR (saves 15-25%% of metrics time)"),
    SEGMENT_FRAMES.but(type=int, help="STFT frames per separation segment (default 512, as Spleeter;"
                       " a multiple of 64; never the model's training crop T)"),
    flag("--no-progress", dest="progress", action="store_false", help="no progress bar"),
    flag("--no-audio", dest="audio", action="store_false",
         help="do not keep the separated stems in <output>/audio/ (Spleeter keeps them)"),
)
MUS_DIR = flag("--mus_dir", "--mus-dir", dest="mus_dir", help="MUSDB18 root (musdb.DB)")
# Checked once parsed (eval.py's errors name the flag and the value it read, on one line):
# (flag, attribute, check of spleeter_paddle.options).
CHECKS = (
    ("--fraction", "fraction", fraction),
    ("--metric-workers", "workers", partial(whole_number, minimum=0)),
    ("--segment-frames", "segment_frames", segment_frames),
)
LAUNCH_NOTES = ("a temporary folder, kept when a worker fails",  # --log-dir's default, -npn's note
                "counts separating processes (cards); metrics workers are --metric-workers:")
# fmt: on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``spleeter-paddle evaluate`` (Spleeter's, plus workers, sampling, resume)."""
    _add_command_flags(
        parser,
        (CONFIG.but("--model", dest="model",
                    help="spleeter:<preset>, a config JSON, a model directory, or 'latest'"),
         flag("-o", "--output_path", dest="output", default=DEFAULT_OUTPUT,
              help=f"where JSON, results.csv, summary.json, sdr.png go (default {DEFAULT_OUTPUT})")),
        (MUS_DIR, flag("--data", help="folder of songs: <song>/mixture.wav + stems (seed layout)")),
        flag("--fraction", type=float, default=1.0, help="share of songs to evaluate"),
        required=True,
    )  # fmt: skip


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the seed's ``eval.py`` (same names; defaults: a tenth of ``dataset/``, latest model)."""
    _add_command_flags(
        parser,
        (flag("--fraction", type=float, default=0.1, help="share of songs (default 0.1)"),
         flag("--model", "-p", dest="model", type=CONFIGURATION, default="latest",
              help="latest (newest trained model under the model home), a model directory, spleeter:<preset> or a config JSON")),
        (flag("--data", help=f"folder of songs (default {DEFAULT_SEED_DATA}/)"), MUS_DIR),
        flag("-o", "--output", dest="output", default=DEFAULT_OUTPUT,
             help=f"output directory (default {DEFAULT_OUTPUT})"),
        required=False,
    )  # fmt: skip


def _add_command_flags(
    parser, first: Tuple[Flag, ...], sources: Tuple[Flag, ...], then: Flag, required: bool
):
    """``first``, one of ``sources`` (``required``: one must be given), ``then``, the rest."""
    add_flags(parser, *first)
    add_flags(parser.add_mutually_exclusive_group(required=required), *sources)
    add_flags(parser, then, *COMMON_FLAGS)
    add_launch_flags(parser, *LAUNCH_NOTES)


def _check_options(args: argparse.Namespace) -> None:
    """The options, before reading anything (ConfigurationError, exit 2): the numbers, a bad
    OMP_NUM_THREADS, the adapter, and an ``-o`` that is (or holds) the dataset's folder, whose
    ``audio/`` and ``metrics/`` would be read back as subsets of songs (an ``-o`` inside the
    dataset is skipped when songs are read)."""
    for name, attribute, check in CHECKS:
        value = getattr(args, attribute)
        if value is not None:
            checked(f"{name} {value}:", check, value, error=ConfigurationError)
    cpu_threads()
    check_default_adapter(args.adapter, "evaluate")
    dataset = args.mus_dir or args.data or DEFAULT_SEED_DATA
    if is_within(dataset, args.output):
        raise ConfigurationError(
            f"-o/--output_path {args.output} is (or holds) the dataset {dataset}: its audio/ and "
            "metrics/ folders would be read as songs next time; choose another folder"
        )


def run(args: argparse.Namespace) -> int:
    """Evaluate as ``args`` say and print the table; SpleeterError on bad input. Exit status 1
    when some songs failed (each named on an ``ERROR <song>: <problem>`` line)."""
    from ..evaluation import format_table, model_settings, sample_tracks
    from ..evaluation.distributed import SongSource
    from ..evaluation.report import check_output_folder

    _check_options(args)
    check_output_folder(args.output, overwrite=args.overwrite)
    source = SongSource(
        args.mus_dir, None if args.mus_dir else args.data or DEFAULT_SEED_DATA, args.subsets,
        args.is_wav,
    )  # fmt: skip
    tracks = source.tracks()
    selected = sample_tracks(tracks, args.fraction, args.seed)
    songs = [track.location for track in tracks]
    check_output_folder(args.output, {track.subset for track in selected}, args.overwrite, songs)
    settings, label = model_settings(
        args.model, mwf=args.mwf, device=args.device, segment_frames=args.segment_frames
    )
    logger.info(
        "evaluating %d of %d songs (fraction %g, seed %d)",
        len(selected),
        len(tracks),
        args.fraction,
        args.seed,
    )
    sample = {  # how the songs were drawn, for the summary
        "fraction": args.fraction,
        "seed": args.seed,
        "of": len(tracks),
        "selected": len(selected),
        "songs": [track.key for track in selected],
    }
    result = _evaluate(args, source, selected, sample, settings, label)
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


def _evaluate(args: argparse.Namespace, source, selected, sample: dict, settings, label: str):
    """``evaluate`` in this process, or in ``-npn`` processes per node (``--nnodes``), with the
    checked ``settings`` of the model ``label`` names."""
    from ..evaluation import evaluate
    from ..evaluation.distributed import ModelChoice, evaluate_launched
    from ..separation.separator import Separator

    launch = launch_options(args)
    keywords = {
        "n_workers": args.workers,
        "overwrite": args.overwrite,
        "sample": sample,
        "check_stability": args.check_stability,
        "metrics": args.metrics,
        "audio": args.audio,
    }
    if launch.launched:
        choice = ModelChoice(args.model, settings.mwf, args.device, settings.segment_frames)
        return evaluate_launched(choice, source, selected, args.output, launch, **keywords)
    logger.info("model: %s", label)
    return evaluate(
        Separator.from_settings(settings), selected, args.output, model=label,
        progress=args.progress, **keywords,
    )  # fmt: skip


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
