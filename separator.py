"""Seed-compatible script: ``python separator.py -i song.wav -o out/`` (or ``separator.py song.wav``).

Same options as ``spleeter-paddle separate``; writes ``out/<song>/<instrument>.wav``.
"""

import sys

from spleeter_paddle.cli import main

if __name__ == "__main__":
    sys.exit(main(["separate", *sys.argv[1:]]))
