"""Training commands: ``train`` (cache, then training) and the seed's ``run_spleeter.py`` launcher
(``-m process_data | train | fast_train``). They parse the flags into a configuration,
:class:`TrainingOptions` and :class:`LaunchOptions`, and call ``training.run.train_model``.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import TYPE_CHECKING, List, Optional

from spleeter_paddle.commands import argument_type, run_script
from spleeter_paddle.commands.data import PROCESS_DATA_FLAGS, run_process_data, training_params
from spleeter_paddle.commands.flags import (
    ADAPTER,
    COUNT,
    COUNT_FROM_ZERO,
    DEVICE,
    Flag,
    add_flags,
    add_launch_flags,
    check_default_adapter,
    flag,
    launch_options,
)
from spleeter_paddle.options import (
    MAX_LOADER_WORKERS,
    load_model_choice,
    name_list,
    random_seed,
    truth_value,
    whole_number,
)
from spleeter_paddle.vocab import AUGMENTATIONS

if TYPE_CHECKING:
    from spleeter_paddle.training.trainer import TrainingOptions

MODES = ("process_data", "train", "fast_train")


str2bool = argument_type(truth_value)  # ``True``/``False`` (any case, yes/no, 1/0) -> bool


def switch(*names: str, help: str) -> Flag:
    """``-amp``, ``--batch-statistics``, ``--dropout``: alone True, else True/False words."""
    return flag(*names, type=str2bool, nargs="?", const=True, default=False, help=help)


# fmt: off
TRAINING_FLAGS = (
    flag("-e", "--epochs", type=COUNT, default=None, help="epochs over the cached chunks"),
    flag("--steps", "--max-steps", dest="max_steps", type=COUNT, default=None,
         help="total steps (overrides -e and train_max_steps)"),
    flag("-lm", "--load_model", type=load_model_choice, default=False,
         help="True: start from the official pretrained weights, False: from the configuration's "
         "initialisation, latest: the newest own model, or a model directory (default %(default)s)"),
    flag("-o", "--run-dir", "--model-dir", dest="run_dir", default=None,
         help="run directory (default <model home>/<config model_dir>); a new run goes to a new one"),
    switch("-amp", "--amp", help="automatic mixed precision (masks and loss stay float32)"),
    flag("--save-every", type=COUNT, default=None, help="checkpoint every N steps"),
    flag("--keep", dest="keep_checkpoints", metavar="KEEP", type=COUNT, default=2,
         help="checkpoints kept (default 2)"),
    flag("--validate-every", type=COUNT_FROM_ZERO, default=None, help="validation every M steps (0: never)"),
    flag("--log-every", type=COUNT, default=10, help="log line every N steps"),
    flag("--num-workers", type=argument_type(whole_number, 0, MAX_LOADER_WORKERS), default=2,
         help="loader worker processes (0: in this process)"),
    flag("--seed", type=argument_type(random_seed), default=None, help="random seed (config random_seed)"),
    switch("--batch-statistics", help="BN on batch statistics (Spleeter trained on stored ones)"),
    switch("--dropout", help="enable dropout"),
    flag("--augment", dest="augmentation", metavar="AUGMENT",
         type=argument_type(name_list, AUGMENTATIONS), default=(),
         help="comma list of gain,swap,remix (default none)"),
    flag("--visualdl", dest="visualdl_dir", metavar="VISUALDL", default=None, help="VisualDL log directory"),
)
RESUME_FLAGS = (  # one or the other
    flag("--resume", dest="resume", action="store_true", default=None,
         help="continue the run in the run directory (its -lm choice is kept); without "
         "--resume/--new-run a run continues only when its recorded settings match the flags"),
    flag("--new-run", "--no-resume", dest="resume", action="store_false",
         help="start a new run; the run directory (-o) must not hold one"),
)
# fmt: on


def add_train_arguments(parser: argparse.ArgumentParser, load_model_default: bool = False) -> None:
    """``train``'s flags. ``-lm`` defaults to False, as Spleeter trains from the
    configuration's own initialisation; the seed's ``run_spleeter.py`` keeps its True."""
    add_flags(parser, *PROCESS_DATA_FLAGS, ADAPTER)
    group = parser.add_argument_group("training")
    add_flags(group, *TRAINING_FLAGS)
    group.set_defaults(load_model=load_model_default)
    add_flags(group.add_mutually_exclusive_group(), *RESUME_FLAGS)
    add_flags(group, DEVICE.but(help="auto: sdaa if Paddle reports it, else gpu, else cpu"))
    add_launch_flags(parser, "<run folder>/log")


def training_options(args: argparse.Namespace) -> TrainingOptions:
    """The training flags as :class:`~spleeter_paddle.training.trainer.TrainingOptions` (each
    field's flag has its name; ``-bs``/``-lr`` go into the configuration instead)."""
    from spleeter_paddle.training.trainer import TrainingOptions

    not_flags = ("batch_size", "learning_rate", "initial_weights")
    names = [field.name for field in fields(TrainingOptions) if field.name not in not_flags]
    values = {name: getattr(args, name) for name in names}
    return TrainingOptions(**{**values, "augmentation": list(args.augmentation)})


def run_train(args: argparse.Namespace, build_cache: bool = True) -> int:
    """``train``: build or update the caches (resumable), then train; ``fast_train``: the
    caches must exist. ``-npn N`` > 1 (or ``--nnodes``) launches N processes per node.

    A conflicting or busy run folder is refused before the caches are built (``training/run.py``):
    the run folder's lock is held from before the caches are built to the end of training."""
    from spleeter_paddle.training.folder import run_directory, run_lock
    from spleeter_paddle.training.run import check_run, train_model

    check_default_adapter(args.adapter, "train")
    params, options, launch = training_params(args), training_options(args), launch_options(args)
    if not build_cache:
        return train_model(params, options, launch).exit_status
    check_run(params, options, launch)
    with run_lock(run_directory(params, options.run_dir)):
        # A song that could not be cached is one ERROR line; training goes on with the others,
        # and the command still ends non-zero: that song is not in the model.
        cache_status = run_process_data(args)
        return train_model(params, options, launch).exit_status or cache_status


def add_run_spleeter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m", "--mode", choices=MODES, default="fast_train",
        help="process_data: build the spectrogram caches; train: caches + training; fast_train: "
        "training on existing caches (default)",
    )  # fmt: skip
    add_train_arguments(parser, load_model_default=True)


def run_spleeter(args: argparse.Namespace) -> int:
    if args.mode == "process_data":
        return run_process_data(args)
    return run_train(args, build_cache=args.mode == "train")


def main_run_spleeter(argv: Optional[List[str]] = None) -> int:
    """``run_scripts/run_spleeter.py``: the seed's modes over the ``process-data``/``train`` flags."""
    return run_script(
        add_run_spleeter_arguments,
        run_spleeter,
        argv,
        description="process_data / train / fast_train",
    )
