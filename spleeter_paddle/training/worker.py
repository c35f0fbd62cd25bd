"""Entry point of each process started by ``paddle.distributed.launch`` (see ``distributed.py``).

Run as a script: ``worker.py --job <file>``; the job file holds the resolved configuration, the
:class:`~spleeter_paddle.training.config.TrainingOptions` and the run's plan (made by the parent
under the run's lock, which it holds). SDAA variables are set before Paddle is imported.
"""

import argparse
import json
import logging
import os
import sys

# Running this file as a script puts its folder first on sys.path: drop it so that module names
# like ``checkpoint`` or ``distributed`` cannot shadow other packages.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", required=True, help="JSON file: 'params', 'options', 'plan'")
    args = parser.parse_args(argv)
    with open(args.job) as stream:
        job = json.load(stream)

    # Importing the package prepares the SDAA variables before Paddle loads (the launcher has
    # also put them in this process's environment).
    from spleeter_paddle.logs import configure_logging

    rank = int(os.environ.get("PADDLE_TRAINER_ID", 0))
    configure_logging(logging.INFO if rank == 0 else logging.WARNING)
    from spleeter_paddle.errors import SpleeterError
    from spleeter_paddle.files import joined_journal
    from spleeter_paddle.training.config import TrainingOptions
    from spleeter_paddle.training.folder import CHECKPOINTS, RunPlan
    from spleeter_paddle.training.trainer import Trainer

    try:
        plan = RunPlan.from_json(job["plan"])
        # The parent holds the run's lock and journals: this process's temporaries join them.
        with joined_journal(plan.run_dir), joined_journal(plan.run_dir / CHECKPOINTS):
            Trainer(job["params"], TrainingOptions(**job["options"]), plan).run()
    except SpleeterError as error:
        logging.getLogger("spleeter_paddle").error("%s", error)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
