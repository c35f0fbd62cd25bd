"""Seed-compatible launcher: ``-m process_data | train | fast_train`` with ``-bs``, ``-npn``,
``-lm``, ``-e``, ``-lr``, ``-cd``, ``-ncps``, ``-T``, ``-F``, ``-amp``, ``-p``, ``--device``.

``-npn N`` (N > 1) runs ``python -m paddle.distributed.launch --nproc_per_node N``. See ``--help``.
"""

import sys

from spleeter_paddle.commands.train import main_run_spleeter

if __name__ == "__main__":
    sys.exit(main_run_spleeter())
