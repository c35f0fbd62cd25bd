"""Data-preparation commands: ``download-musdb``, ``preprocess`` and ``process-data``.

Each parses its flags, calls one library function (``data.musdb``, ``data.manifest``,
``data.cache``) and prints its summary; ``downloadMusdb.py`` and ``preprocess.py`` run them too.
A bad song is one ``ERROR <song>: <problem>`` line (logged by the library); the others are
processed and the exit status is 1 (as ``separate`` and ``evaluate`` do).
"""

from __future__ import annotations

import argparse
from typing import Any, Dict

from ..options import random_seed, validation_fraction
from ..vocab import MUSDB_SUBSETS
from . import argument_type
from .flags import AMOUNT, CONFIGURATION, COUNT, add_is_wav_flag


def add_config_arguments(parser: argparse.ArgumentParser, train: bool = True) -> None:
    """``-p``, ``-d``, ``-T`` and ``--quiet``; with ``train`` also ``-F -cd -ncps -bs -lr``."""
    parser.add_argument(
        "-p",
        "--params_filename",
        "--config",
        dest="config",
        type=CONFIGURATION,
        default=None,
        help="training configuration: JSON path or spleeter:<name> "
        "(default configs/2stems_config.json, else the built-in 2-stem training config)",
    )
    parser.add_argument("-d", "--data", default="dataset", help="dataset root (default dataset)")
    parser.add_argument("-T", type=COUNT, default=None, help="frames per training crop (config T)")
    if train:
        parser.add_argument("-F", type=COUNT, default=None, help="frequency bins (config F)")
        parser.add_argument(
            "-cd",
            "--chunk_duration",
            type=AMOUNT,
            default=None,
            help="chunk length in s",
        )
        parser.add_argument(
            "-ncps",
            "--n_chunks_per_song",
            type=COUNT,
            default=None,
            help="chunks per song",
        )
        parser.add_argument(
            "-bs", "--batch_size", type=COUNT, default=None, help="batch size per card"
        )
        parser.add_argument(
            "-lr",
            "--learning_rate",
            type=AMOUNT,
            default=None,
            help="Adam learning rate",
        )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def training_params(args: argparse.Namespace) -> Dict[str, Any]:
    """The configuration ``-p`` names with the ``-T -F -cd -ncps -bs -lr`` overrides applied."""
    from spleeter_paddle.training.config import training_configuration

    overrides = {
        name: getattr(args, name, None)
        for name in ("T", "F", "chunk_duration", "n_chunks_per_song", "batch_size", "learning_rate")
    }
    return training_configuration(args.config, **overrides)


# --- download-musdb (downloadMusdb.py) ----------------------------------------------------------


def add_download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--musdb-root",
        "--musdb_root",
        dest="musdb_root",
        default=None,
        help="existing MUSDB18 (.stem.mp4) or MUSDB18-HQ root to convert; "
        "without it the 7-second previews are downloaded",
    )
    add_is_wav_flag(parser, help="the root is MUSDB18-HQ (WAV); detected when omitted")
    parser.add_argument("-o", "--output", default="dataset", help="dataset root to write")
    parser.add_argument(
        "--stems",
        choices=("2", "4", "all"),
        default="2",
        help="2: mixture/vocals/accompaniment (default); 4: MUSDB's stems; all: both",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files at the output paths that download-musdb did not write from that song",
    )
    parser.add_argument("--download-root", default=None, help="where previews are downloaded")
    parser.add_argument(
        "--subsets",
        nargs="+",
        choices=MUSDB_SUBSETS,
        default=list(MUSDB_SUBSETS),
        help="MUSDB subsets (default: both)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_download(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.musdb import convert_musdb, download_previews

    root = args.musdb_root or download_previews(args.download_root)
    is_wav = args.is_wav if args.musdb_root else False
    report = convert_musdb(
        root, args.output, is_wav, args.stems, args.subsets, not args.quiet, args.overwrite
    )
    print("\n".join(report.summary_lines()))
    return 1 if report.failed else 0


# --- preprocess (preprocess.py) -----------------------------------------------------------------


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, train=False)
    parser.add_argument(
        "--validation-fraction",
        type=argument_type(validation_fraction),
        default=0.14,
        help="validation share when the songs are not MUSDB's (default 0.14)",
    )
    parser.add_argument(
        "--seed",
        type=argument_type(random_seed),
        default=None,
        help="seed of that split (config random_seed)",
    )


def run_preprocess(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.manifest import build_manifests

    report = build_manifests(
        training_params(args), args.data, args.validation_fraction, args.seed, not args.quiet
    )
    print("\n".join(report.summary_lines()))
    return 1 if report.skipped else 0


# --- process-data (run_spleeter.py -m process_data) ---------------------------------------------


def add_process_data_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument(
        "--cache-dtype",
        choices=("uint8", "float16"),
        default="uint8",
        help="uint8 dB like Spleeter (default) or float16 magnitudes",
    )
    parser.add_argument("--workers", type=COUNT, default=None, help="songs processed in parallel")


def run_process_data(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.cache import process_data

    reports = process_data(
        training_params(args), args.data, args.cache_dtype, args.workers, not args.quiet
    )
    for report in reports.values():
        print(report.summary_line())
    return 1 if any(report.skipped for report in reports.values()) else 0
