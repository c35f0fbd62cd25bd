"""Flags that mean the same in several commands, defined once: the model, the device, the backend,
MUSDB18-HQ's ``--is-wav``. The checks of counts and amounts are in :mod:`spleeter_paddle.options`.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from ..audio.adapter import DEFAULT_ADAPTER, is_default_adapter_name
from ..errors import ConfigurationError
from ..options import (
    MAX_PROCESSES_PER_NODE,
    card_ids,
    endpoint,
    host_list,
    node_count,
    positive_number,
    whole_number,
)
from ..vocab import BACKENDS, DEVICES
from . import argument_type

Parser = Any  # an ArgumentParser or an argument group
# argparse types of the commands' counts and amounts (others are made where used)
COUNT = argument_type(whole_number)  # 1, 2, ...
COUNT_FROM_ZERO = argument_type(whole_number, 0)  # seeds, "0: never"
AMOUNT = argument_type(positive_number)  # a finite number > 0


def add_config_flag(parser: Parser) -> None:
    parser.add_argument(
        "-p",
        "--params_filename",
        default="spleeter:2stems",
        help="spleeter:<preset> or JSON config (default: spleeter:2stems)",
    )


def add_model_dir_flag(parser: Parser) -> None:
    parser.add_argument(
        "--model-dir",
        default=None,
        help="directory of trained weights (default: the config's pretrained model)",
    )


def add_device_flag(
    parser: Parser, help: str = "device (default: auto = sdaa > gpu > cpu)"
) -> None:
    parser.add_argument("--device", default="auto", choices=DEVICES, help=help)


def add_backend_flag(
    parser: Parser,
    choices: Sequence[str] = BACKENDS,
    help: str = "inference engine (default: auto; onnxruntime/openvino need their extras)",
) -> None:
    parser.add_argument("--backend", default="auto", choices=choices, help=help)


def add_adapter_flag(parser: Parser) -> None:
    """Spleeter's ``-a/--adapter``: the AudioAdapter class that reads (and writes) audio."""
    parser.add_argument(
        "-a",
        "--adapter",
        default=DEFAULT_ADAPTER,
        help="audio adapter class, package.module.Class (default: the built-in reader and "
        "writer; spleeter.audio.ffmpeg.FFMPEGProcessAudioAdapter names it too)",
    )


def check_default_adapter(name: str, command: str) -> None:
    """``train``/``evaluate`` read songs with the built-in reader: ``-a`` may only name the
    default adapter there (ConfigurationError, a usage error, for any other)."""
    if not is_default_adapter_name(name):
        raise ConfigurationError(
            f"-a/--adapter {name}: {command} reads audio with the built-in reader; only the "
            f"default adapter ({DEFAULT_ADAPTER}) is accepted here"
        )


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """``-p``, ``--model-dir``, ``--device``, ``--backend``: which model runs where."""
    add_config_flag(parser)
    add_model_dir_flag(parser)
    add_device_flag(parser)
    add_backend_flag(parser)


def add_is_wav_flag(parser: Parser, help: str) -> None:
    parser.add_argument(
        "--is-wav", "--is_wav", dest="is_wav", action="store_true", default=None, help=help
    )


def add_launch_flags(parser: argparse.ArgumentParser, log_default: str, npn_note: str = "") -> None:
    """``-npn``, ``--nnodes``, ``--master``, ``--ips``, ``--devices``, ``--log-dir``: one process
    per card through ``paddle.distributed.launch`` (``launch.py``), on one or several nodes.
    ``npn_note`` leads ``-npn``'s messages (what it counts, where it once meant another thing)."""
    multi = parser.add_argument_group("multi-card / multi-node (paddle.distributed.launch)")
    multi.add_argument(
        "-npn",
        "--nproc_per_node",
        type=argument_type(whole_number, 1, MAX_PROCESSES_PER_NODE, subject=npn_note),
        default=1,
        help="processes (cards) per node (default 1: this process)",
    )
    multi.add_argument(
        "--nnodes", type=argument_type(node_count), default=None, help="number of nodes"
    )
    multi.add_argument(
        "--master",
        type=argument_type(endpoint),
        default=None,
        help="rendezvous ip:port (multi-node)",
    )
    multi.add_argument(
        "--ips",
        type=argument_type(host_list),
        default=None,
        help="comma list of node ips (multi-node)",
    )
    multi.add_argument(
        "--devices",
        type=argument_type(card_ids),
        default=None,
        help="card ids for the launcher, e.g. 0,1,2,3",
    )
    multi.add_argument(
        "--log-dir", default=None, help=f"the workers' log folder (default {log_default})"
    )


def launch_options(args: argparse.Namespace) -> Any:
    """The flags of :func:`add_launch_flags` as a :class:`~spleeter_paddle.launch.LaunchOptions`."""
    from ..launch import LaunchOptions

    return LaunchOptions(
        args.nproc_per_node, args.nnodes, args.master, args.ips, args.devices, args.log_dir
    )
