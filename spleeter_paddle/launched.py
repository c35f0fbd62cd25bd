"""Entry point of each process started by ``paddle.distributed.launch``: ``launched.py --job
<file>``, whose ``task`` names what to run (:data:`TASKS`). SIGTERM unwinds like Ctrl-C.
"""

import argparse
import importlib
import json
import logging
import os
import sys

# Running this file as a script puts its folder first on sys.path: drop it so that module names
# like ``launch`` or ``files`` cannot shadow other packages.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

# task -> "module:function(job) -> exit status"
TASKS = {
    "train": "spleeter_paddle.training.trainer:run_job",
    "separate": "spleeter_paddle.separation.batch:run_job",
    "evaluate": "spleeter_paddle.evaluation.distributed:run_job",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", required=True, help="JSON file with 'task' and its fields")
    args = parser.parse_args(argv)
    with open(args.job) as stream:
        job = json.load(stream)

    # Importing the package prepares the SDAA variables before Paddle loads (the launcher has
    # also put them in this process's environment).
    from spleeter_paddle.commands import run_guarded
    from spleeter_paddle.logs import configure_logging

    rank = int(os.environ.get("PADDLE_TRAINER_ID", 0))
    configure_logging(logging.INFO if rank == 0 or job["task"] != "train" else logging.WARNING)
    module, function = TASKS[job["task"]].split(":")
    run = getattr(importlib.import_module(module), function)
    return run_guarded(lambda _: run(job), argparse.Namespace(), f"rank {rank}")


if __name__ == "__main__":
    sys.exit(main())
