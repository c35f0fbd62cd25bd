"""Seed-compatible: scan ``dataset/`` and write the train/validation manifest CSVs into ``configs/``
(paths from the configuration, default ``configs/2stems_config.json``).

Same options as ``spleeter-paddle preprocess`` (see ``--help``).
"""

import sys

from spleeter_paddle.cli import main

if __name__ == "__main__":
    sys.exit(main(["preprocess", *sys.argv[1:]]))
