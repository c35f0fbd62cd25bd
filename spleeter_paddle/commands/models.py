"""``models download`` / ``models import``: install pretrained weights in the model home.

The work is the provider's (``pretrained.provider``); this prints the installed directory.
"""

from __future__ import annotations

import argparse

from ..options import folder_name
from . import argument_type
from .flags import CONFIG, OVERWRITE, add_flags, flag

# fmt: off
MODEL_HOME = flag("--model-home", default=None,
                  help="default: $MODEL_PATH, else ./model if it holds models, else ./pretrained_models "
                  "if present, else ~/.cache/spleeter-paddle/models (see docs/environment.md)")
IMPORT_FLAGS = (
    flag("path", help="<name>.tar.gz, a zip/wheel, or a checkpoint directory"),
    flag("-n", "--name", type=argument_type(folder_name, subject="model name"), default=None,
         help="model name, a folder of the model home (default: from the path)"),
    CONFIG.but(default=None, help="the configuration the checkpoint was trained with, recorded with "
               "the weights (default: the preset of its name); without -n, installs in its model_dir"),
    OVERWRITE.but(help="replace a model, or an installed model's files, already under the name"),
    MODEL_HOME,
)
# fmt: on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="models_action", required=True)
    fetch = actions.add_parser("download", help="install the official weights of a preset now")
    add_flags(fetch, CONFIG, MODEL_HOME)
    imported = actions.add_parser("import", help="install weights from a local archive/directory")
    add_flags(imported, *IMPORT_FLAGS)


def run(args: argparse.Namespace) -> int:
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.pretrained.provider import get_model_directory, import_model

    if args.models_action == "download":
        directory = get_model_directory(load_configuration(args.params_filename), args.model_home)
    else:
        params = load_configuration(args.params_filename) if args.params_filename else None
        directory = import_model(args.path, args.name, args.model_home, params, args.overwrite)
    print(directory)
    return 0
