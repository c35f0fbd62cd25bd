"""Every command's flags as tables of :func:`flag` declarations; the flags several commands share
(model, device, backend, adapter, Wiener filter, ...) are declared here once. A flag's ``type`` is
a check of :mod:`spleeter_paddle.options` (through ``argument_type``): a bad value is a usage
error (exit 2) before anything is read. A command adds a flag by adding a line to its table.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, NamedTuple, Tuple

from ..audio.adapter import DEFAULT_ADAPTER, is_default_adapter_name
from ..errors import ConfigurationError
from ..options import (
    MAX_PROCESSES_PER_NODE,
    card_ids,
    configuration_name,
    endpoint,
    host_list,
    node_count,
    positive_number,
    segment_frames,
    whole_number,
)
from ..vocab import BACKENDS, DEVICES
from . import argument_type

Parser = Any  # an ArgumentParser or an argument group
# argparse types of the commands' counts and amounts (others are made where used)
COUNT = argument_type(whole_number)  # 1, 2, ...
COUNT_FROM_ZERO = argument_type(whole_number, 0)  # seeds, "0: never"
AMOUNT = argument_type(positive_number)  # a finite number > 0
CONFIGURATION = argument_type(configuration_name)  # -p: a known preset, or a path


class Flag(NamedTuple):
    """One option: its names and its ``add_argument`` keywords."""

    names: Tuple[str, ...]
    keywords: Dict[str, Any]

    def but(self, *more_names: str, **changes: Any) -> Flag:
        """The same flag with a command's own keywords (its help, its default), or names."""
        return Flag(self.names + more_names, {**self.keywords, **changes})


def flag(*names: str, **keywords: Any) -> Flag:
    return Flag(names, keywords)


def add_flags(parser: Parser, *flags: Flag) -> None:
    for item in flags:
        parser.add_argument(*item.names, **item.keywords)


# fmt: off
CONFIG = flag("-p", "--params_filename", type=CONFIGURATION, default="spleeter:2stems",
              help="spleeter:<preset> or JSON config (default: spleeter:2stems)")
MODEL_DIR = flag("--model-dir", default=None,
                 help="directory of trained weights (default: the config's pretrained model)")
DEVICE = flag("--device", default="auto", choices=DEVICES, help="device (default: auto = sdaa > gpu > cpu)")
BACKEND = flag("--backend", default="auto", choices=BACKENDS,
               help="inference engine (default: auto; onnxruntime/openvino need their extras)")
ADAPTER = flag("-a", "--adapter", default=DEFAULT_ADAPTER,
               help="audio adapter class, package.module.Class (default: the built-in reader and writer; "
               "spleeter.audio.ffmpeg.FFMPEGProcessAudioAdapter names it too)")  # Spleeter's -a
MWF = flag("--mwf", action=argparse.BooleanOptionalAction, default=None,
           help="multichannel Wiener filtering (default: the configuration's MWF key, else off)")
SEGMENT_FRAMES = flag("--segment-frames", type=argument_type(segment_frames), default=None,
                      help="STFT frames per segment (default: 512, as Spleeter; a multiple of 64 for U-Nets)")
IS_WAV = flag("--is-wav", "--is_wav", dest="is_wav", action="store_true", default=None)
OVERWRITE = flag("--overwrite", action="store_true")
QUIET = flag("--quiet", action="store_true", help="no progress bars")
MODEL_FLAGS = (CONFIG, MODEL_DIR, DEVICE, BACKEND)  # which model runs where
# fmt: on


def check_default_adapter(name: str, command: str) -> None:
    """``train``/``evaluate`` read songs with the built-in reader: ``-a`` may only name the
    default adapter there (ConfigurationError, a usage error, for any other)."""
    if not is_default_adapter_name(name):
        raise ConfigurationError(
            f"-a/--adapter {name}: {command} reads audio with the built-in reader; only the "
            f"default adapter ({DEFAULT_ADAPTER}) is accepted here"
        )


def add_launch_flags(parser: argparse.ArgumentParser, log_default: str, npn_note: str = "") -> None:
    """``-npn``, ``--nnodes``, ``--master``, ``--ips``, ``--devices``, ``--log-dir`` in their own
    group of ``parser``'s help: one process per card through ``paddle.distributed.launch``
    (``launch.py``), on one or several nodes. ``npn_note`` leads ``-npn``'s messages (what it
    counts, where it once meant another thing)."""
    npn = argument_type(whole_number, 1, MAX_PROCESSES_PER_NODE, subject=npn_note)
    group = parser.add_argument_group("multi-card / multi-node (paddle.distributed.launch)")
    # fmt: off
    add_flags(
        group,
        flag("-npn", "--nproc_per_node", type=npn, default=1,
             help="processes (cards) per node (default 1: this process)"),
        flag("--nnodes", type=argument_type(node_count), default=None, help="number of nodes"),
        flag("--master", type=argument_type(endpoint), default=None, help="rendezvous ip:port (multi-node)"),
        flag("--ips", type=argument_type(host_list), default=None, help="comma list of node ips (multi-node)"),
        flag("--devices", type=argument_type(card_ids), default=None,
             help="card ids for the launcher, e.g. 0,1,2,3"),
        flag("--log-dir", default=None, help=f"the workers' log folder (default {log_default})"),
    )
    # fmt: on


def launch_options(args: argparse.Namespace) -> Any:
    """The flags of :func:`add_launch_flags` as a :class:`~spleeter_paddle.launch.LaunchOptions`."""
    from ..launch import LaunchOptions

    return LaunchOptions(
        args.nproc_per_node, args.nnodes, args.master, args.ips, args.devices, args.log_dir
    )
