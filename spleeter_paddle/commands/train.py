"""Command-line glue for the data and training pipeline: argument parsers and ``run`` functions.

``spleeter-paddle`` (cli.py) and the seed-compatible scripts (``downloadMusdb.py``,
``preprocess.py``, ``run_scripts/run_spleeter.py``) call these; each ``run_*`` returns an exit
status and raises :class:`~spleeter_paddle.errors.SpleeterError` on bad input.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from spleeter_paddle.commands import run_script

logger = logging.getLogger("spleeter_paddle")

TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "none")
MODES = ("process_data", "train", "fast_train")


def str2bool(text: Union[str, bool]) -> bool:
    """``True``/``False`` (any case, yes/no, 1/0) -> bool; argparse error otherwise."""
    if isinstance(text, bool):
        return text
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def load_model_choice(text: str) -> Union[bool, str]:
    """``-lm``: True (official pretrained), False (scratch), ``latest`` or a model directory."""
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return "latest" if lowered == "latest" else text


# --- shared arguments -------------------------------------------------------------------------


def _add_config_arguments(parser: argparse.ArgumentParser, train: bool = True) -> None:
    parser.add_argument(
        "-p",
        "--params_filename",
        "--config",
        dest="config",
        default=None,
        help="training configuration: JSON path or spleeter:<name> "
        "(default configs/2stems_config.json, else the built-in 2-stem training config)",
    )
    parser.add_argument("-d", "--data", default="dataset", help="dataset root (default dataset)")
    parser.add_argument("-T", type=int, default=None, help="frames per training crop (config T)")
    if train:
        parser.add_argument("-F", type=int, default=None, help="frequency bins (config F)")
        parser.add_argument(
            "-cd", "--chunk_duration", type=float, default=None, help="chunk length in s"
        )
        parser.add_argument(
            "-ncps", "--n_chunks_per_song", type=int, default=None, help="chunks per song"
        )
        parser.add_argument(
            "-bs", "--batch_size", type=int, default=None, help="batch size per card"
        )
        parser.add_argument(
            "-lr", "--learning_rate", type=float, default=None, help="Adam learning rate"
        )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _params(args: argparse.Namespace) -> Dict[str, Any]:
    from spleeter_paddle.training.config import training_configuration

    overrides = {
        name: getattr(args, name, None)
        for name in ("T", "F", "chunk_duration", "n_chunks_per_song", "batch_size", "learning_rate")
    }
    return training_configuration(args.config, **overrides)


# --- downloadMusdb ------------------------------------------------------------------------------


def add_download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--musdb-root",
        "--musdb_root",
        dest="musdb_root",
        default=None,
        help="existing MUSDB18 (.stem.mp4) or MUSDB18-HQ root to convert; "
        "without it the 7-second previews are downloaded",
    )
    parser.add_argument(
        "--is-wav",
        "--is_wav",
        dest="is_wav",
        action="store_true",
        default=None,
        help="the root is MUSDB18-HQ (WAV); detected when omitted",
    )
    parser.add_argument("-o", "--output", default="dataset", help="dataset root to write")
    parser.add_argument(
        "--stems",
        choices=("2", "4", "all"),
        default="2",
        help="2: mixture/vocals/accompaniment (default); 4: MUSDB's stems; all: both",
    )
    parser.add_argument("--download-root", default=None, help="where previews are downloaded")
    parser.add_argument("--subsets", nargs="+", default=["train", "test"], help="MUSDB subsets")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_download(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.musdb import convert_musdb, download_previews

    root = args.musdb_root or download_previews(args.download_root)
    is_wav = args.is_wav if args.musdb_root else False
    report = convert_musdb(root, args.output, is_wav, args.stems, args.subsets, not args.quiet)
    print("\n".join(report.summary_lines()))
    return 0


# --- preprocess ---------------------------------------------------------------------------------


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    _add_config_arguments(parser, train=False)
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.14,
        help="validation share when the songs are not MUSDB's (default 0.14)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of that split (config random_seed)"
    )


def run_preprocess(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.manifest import build_manifests

    report = build_manifests(
        _params(args), args.data, args.validation_fraction, args.seed, not args.quiet
    )
    print("\n".join(report.summary_lines()))
    return 0


# --- process_data -------------------------------------------------------------------------------


def add_process_data_arguments(parser: argparse.ArgumentParser) -> None:
    _add_config_arguments(parser)
    parser.add_argument(
        "--cache-dtype",
        choices=("uint8", "float16"),
        default="uint8",
        help="uint8 dB like Spleeter (default) or float16 magnitudes",
    )
    parser.add_argument("--workers", type=int, default=None, help="songs processed in parallel")


def run_process_data(args: argparse.Namespace) -> int:
    from spleeter_paddle.data.cache import process_data

    reports = process_data(_params(args), args.data, args.cache_dtype, args.workers, not args.quiet)
    for report in reports.values():
        print(report.summary_line())
    return 0


# --- train --------------------------------------------------------------------------------------


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_process_data_arguments(parser)
    group = parser.add_argument_group("training")
    group.add_argument(
        "-e", "--epochs", type=int, default=None, help="epochs over the cached chunks"
    )
    group.add_argument(
        "--steps",
        "--max-steps",
        dest="max_steps",
        type=int,
        default=None,
        help="total steps (overrides -e and train_max_steps)",
    )
    group.add_argument(
        "-lm",
        "--load_model",
        type=load_model_choice,
        default=True,
        help="True: start from the official pretrained weights (default), False: "
        "from scratch, latest: the newest own model, or a model directory",
    )
    group.add_argument(
        "-o",
        "--run-dir",
        "--model-dir",
        dest="run_dir",
        default=None,
        help="run directory (default model/<config model_dir>); a new run goes to a new one",
    )
    group.add_argument(
        "-amp",
        "--amp",
        type=str2bool,
        nargs="?",
        const=True,
        default=False,
        help="automatic mixed precision (masks and loss stay float32)",
    )
    group.add_argument("--save-every", type=int, default=None, help="checkpoint every N steps")
    group.add_argument("--keep", type=int, default=2, help="checkpoints kept (default 2)")
    group.add_argument(
        "--validate-every", type=int, default=None, help="validation every M steps (0: never)"
    )
    group.add_argument("--log-every", type=int, default=10, help="log line every N steps")
    group.add_argument(
        "--num-workers", type=int, default=2, help="loader worker processes (0: in this process)"
    )
    group.add_argument("--seed", type=int, default=None, help="random seed (config random_seed)")
    group.add_argument(
        "--batch-statistics",
        type=str2bool,
        nargs="?",
        const=True,
        default=False,
        help="BN on batch statistics (Spleeter trained on stored ones)",
    )
    group.add_argument(
        "--dropout", type=str2bool, nargs="?", const=True, default=False, help="enable dropout"
    )
    group.add_argument("--augment", default="", help="comma list of gain,swap,remix (default none)")
    group.add_argument("--visualdl", default=None, help="VisualDL log directory")
    resume = group.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        dest="resume",
        action="store_true",
        default=None,
        help="continue the run in the run directory (its -lm choice is kept); without "
        "--resume/--new-run a run continues only when its recorded settings match the flags",
    )
    resume.add_argument(
        "--new-run",
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start a new run; the run directory (-o) must not hold one",
    )
    group.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu", "sdaa"),
        default="auto",
        help="auto: sdaa if Paddle reports it, else gpu, else cpu",
    )
    multi = parser.add_argument_group("multi-card / multi-node (paddle.distributed.launch)")
    multi.add_argument(
        "-npn", "--nproc_per_node", type=int, default=1, help="processes (cards) per node"
    )
    multi.add_argument("--nnodes", default=None, help="number of nodes")
    multi.add_argument("--master", default=None, help="rendezvous ip:port (multi-node)")
    multi.add_argument("--ips", default=None, help="comma list of node ips (multi-node)")
    multi.add_argument("--devices", default=None, help="card ids for the launcher, e.g. 0,1,2,3")
    multi.add_argument("--log-dir", default="log", help="launcher log directory (default log)")


def _training_options(args: argparse.Namespace, params: Dict[str, Any]) -> Dict[str, Any]:
    from spleeter_paddle.training.initial import run_directory

    augmentation = [name.strip() for name in args.augment.split(",") if name.strip()]
    return {
        "run_dir": str(run_directory(params, args.run_dir)),
        "max_steps": args.max_steps,
        "epochs": args.epochs,
        "save_every": args.save_every,
        "validate_every": args.validate_every,
        "keep_checkpoints": args.keep,
        "log_every": args.log_every,
        "num_workers": args.num_workers,
        "load_model": args.load_model,
        "resume": args.resume,
        "batch_statistics": args.batch_statistics,
        "dropout": args.dropout,
        "amp": args.amp,
        "seed": args.seed,
        "device": args.device,
        "augmentation": augmentation,
        "visualdl_dir": args.visualdl,
    }


def run_train(args: argparse.Namespace, build_cache: bool = True) -> int:
    """``train``: build or update the caches (resumable), then train; ``fast_train``: the
    caches must exist. ``-npn N`` > 1 (or ``--nnodes``) launches N processes per node.

    The run directory is decided first (resume or new run, see ``training/run.py``) and locked
    for the whole command."""
    from spleeter_paddle.training.run import plan_run, run_lock

    n_procs = max(1, args.nproc_per_node)
    params = _params(args)
    options = _training_options(args, params)
    run_dir = Path(options["run_dir"])
    plan_arguments = (params, options["load_model"], options["resume"])
    plan_arguments += (options["batch_statistics"], options["dropout"])
    plan_run(run_dir, *plan_arguments)  # refuse a conflict before any work
    if build_cache:
        run_process_data(args)
    from spleeter_paddle.data.dataset import SpectrogramCache

    SpectrogramCache(params["training_cache"]).check(params)  # fail before fetching weights
    with run_lock(run_dir):
        return _train_locked(args, params, options, plan_run(run_dir, *plan_arguments), n_procs)


def _train_locked(
    args: argparse.Namespace, params: Dict[str, Any], options: Dict[str, Any], plan, n_procs: int
) -> int:
    from spleeter_paddle.training.run import open_run

    open_run(plan, params)
    options["resume"] = plan.resume
    if not plan.resume and options["load_model"]:
        # Provision pretrained weights once, here, not concurrently in every worker.
        from spleeter_paddle.training.initial import resolve_initial_weights

        initial = resolve_initial_weights(params, options["load_model"], plan.run_dir)
        options["initial_weights"] = str(initial) if initial else None
    if n_procs > 1 or bool(args.nnodes):
        from spleeter_paddle.training.distributed import launch_training

        return launch_training(
            params, options, n_procs, args.master, args.nnodes, args.ips, args.devices, args.log_dir
        )
    from spleeter_paddle.training.trainer import TrainingOptions, train

    train(params, TrainingOptions(**options))
    return 0


# --- run_spleeter.py (the seed's launcher) --------------------------------------------------------


def add_run_spleeter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        "--mode",
        choices=MODES,
        default="fast_train",
        help="process_data: build the spectrogram caches; train: caches + "
        "training; fast_train: training on existing caches (default)",
    )
    add_train_arguments(parser)


def run_spleeter(args: argparse.Namespace) -> int:
    if args.mode == "process_data":
        return run_process_data(args)
    return run_train(args, build_cache=args.mode == "train")


def _main(add: Callable, run: Callable, description: str, argv: Optional[Sequence[str]]) -> int:
    return run_script(add, run, argv, description=description)


def main_download(argv: Optional[List[str]] = None) -> int:
    return _main(
        add_download_arguments, run_download, "MUSDB18 -> dataset/<split>/<song>/*.wav", argv
    )


def main_preprocess(argv: Optional[List[str]] = None) -> int:
    return _main(add_preprocess_arguments, run_preprocess, "dataset -> manifest CSVs", argv)


def main_run_spleeter(argv: Optional[List[str]] = None) -> int:
    return _main(
        add_run_spleeter_arguments, run_spleeter, "process_data / train / fast_train", argv
    )
