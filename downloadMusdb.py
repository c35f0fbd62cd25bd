"""Seed-compatible: MUSDB18 -> ``dataset/<split>/<song>/{mixture,vocals,accompaniment}.wav``.

``python downloadMusdb.py`` downloads musdb's 7-second previews; ``--musdb-root ROOT [--is-wav]``
converts an existing MUSDB18 / MUSDB18-HQ. Same options as ``spleeter-paddle download-musdb``.
"""

import sys

from spleeter_paddle.cli import main

if __name__ == "__main__":
    sys.exit(main(["download-musdb", *sys.argv[1:]]))
