"""Seed-compatible: scan ``dataset/`` and write the train/validation manifest CSVs into ``configs/``
(paths from the configuration, default ``configs/2stems_config.json``). See ``--help``.
"""

import sys

from spleeter_paddle.commands.train import main_preprocess

if __name__ == "__main__":
    sys.exit(main_preprocess())
