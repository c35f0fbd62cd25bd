"""``python -m spleeter_paddle``."""

import sys

from .cli import main

sys.exit(main())
