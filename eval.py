"""Seed-compatible evaluation: ``python eval.py -npn 4 -seed 123456`` (see ``--help``).

Scores a random tenth of ``dataset/`` with the newest trained model under the model home using
museval (BSSEval v4) and prints the table. Everything is in ``spleeter_paddle.commands.evaluate``.
"""

import sys

if __name__ == "__main__":
    # Imported here, not at the top: metrics workers are spawned and re-import this file.
    from spleeter_paddle.commands.evaluate import main

    sys.exit(main())
