"""Seed-compatible: MUSDB18 -> ``dataset/<split>/<song>/{mixture,vocals,accompaniment}.wav``.

``python downloadMusdb.py`` downloads musdb's 7-second previews; ``--musdb-root ROOT [--is-wav]``
converts an existing MUSDB18 / MUSDB18-HQ. See ``--help``.
"""

import sys

from spleeter_paddle.commands.train import main_download

if __name__ == "__main__":
    sys.exit(main_download())
