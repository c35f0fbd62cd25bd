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
from .flags import AMOUNT, CONFIG, COUNT, IS_WAV, OVERWRITE, QUIET, flag

# fmt: off
CONFIG_FLAGS = (  # -p -d -T (preprocess too)
    CONFIG.but("--config", dest="config", default=None,
               help="training configuration: JSON path or spleeter:<name> "
               "(default configs/2stems_config.json, else the built-in 2-stem training config)"),
    flag("-d", "--data", default="dataset", help="dataset root (default dataset)"),
    flag("-T", type=COUNT, default=None, help="frames per training crop (config T)"),
)
TRAINING_CONFIG_FLAGS = (  # what training overrides in the configuration
    flag("-F", type=COUNT, default=None, help="frequency bins (config F)"),
    flag("-cd", "--chunk_duration", type=AMOUNT, default=None, help="chunk length in s"),
    flag("-ncps", "--n_chunks_per_song", type=COUNT, default=None, help="chunks per song"),
    flag("-bs", "--batch_size", type=COUNT, default=None, help="batch size per card"),
    flag("-lr", "--learning_rate", type=AMOUNT, default=None, help="Adam learning rate"),
)
# fmt: on


def training_params(args: argparse.Namespace) -> Dict[str, Any]:
    """The configuration ``-p`` names with the ``-T -F -cd -ncps -bs -lr`` overrides applied."""
    from spleeter_paddle.training.config import training_configuration

    overrides = {
        name: getattr(args, name, None)
        for name in ("T", "F", "chunk_duration", "n_chunks_per_song", "batch_size", "learning_rate")
    }
    return training_configuration(args.config, **overrides)


# fmt: off
DOWNLOAD_FLAGS = (
    flag("--musdb-root", "--musdb_root", dest="musdb_root", default=None,
         help="existing MUSDB18 (.stem.mp4) or MUSDB18-HQ root to convert; "
         "without it the 7-second previews are downloaded"),
    IS_WAV.but(help="the root is MUSDB18-HQ (WAV); detected when omitted"),
    flag("-o", "--output", default="dataset", help="dataset root to write"),
    flag("--stems", choices=("2", "4", "all"), default="2",
         help="2: mixture/vocals/accompaniment (default); 4: MUSDB's stems; all: both"),
    OVERWRITE.but(help="replace files at the output paths that download-musdb did not write from that song"),
    flag("--download-root", default=None, help="where previews are downloaded"),
    flag("--subsets", nargs="+", choices=MUSDB_SUBSETS, default=list(MUSDB_SUBSETS),
         help="MUSDB subsets (default: both)"),
    QUIET,
)
# fmt: on


def run_download(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.musdb import convert_musdb, download_previews

    root = args.musdb_root or download_previews(args.download_root)
    is_wav = args.is_wav if args.musdb_root else False
    report = convert_musdb(
        root, args.output, is_wav, args.stems, args.subsets, not args.quiet, args.overwrite
    )
    print("\n".join(report.summary_lines()))
    return 1 if report.failed else 0


# fmt: off
PREPROCESS_FLAGS = (
    *CONFIG_FLAGS,
    QUIET,
    flag("--validation-fraction", type=argument_type(validation_fraction), default=0.14,
         help="validation share when the songs are not MUSDB's (default 0.14)"),
    flag("--seed", type=argument_type(random_seed), default=None, help="seed of that split (config random_seed)"),
)
# fmt: on


def run_preprocess(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.manifest import build_manifests

    report = build_manifests(
        training_params(args), args.data, args.validation_fraction, args.seed, not args.quiet
    )
    print("\n".join(report.summary_lines()))
    return 1 if report.skipped else 0


# fmt: off
PROCESS_DATA_FLAGS = (
    *CONFIG_FLAGS,
    *TRAINING_CONFIG_FLAGS,
    QUIET,
    flag("--cache-dtype", choices=("uint8", "float16"), default="uint8",
         help="uint8 dB like Spleeter (default) or float16 magnitudes"),
    flag("--workers", type=COUNT, default=None, help="songs processed in parallel"),
)
# fmt: on


def run_process_data(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.cache import process_data

    reports = process_data(
        training_params(args), args.data, args.cache_dtype, args.workers, not args.quiet
    )
    for report in reports.values():
        print(report.summary_line())
    return 1 if any(report.skipped for report in reports.values()) else 0
