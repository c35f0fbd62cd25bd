"""Log set-up shared by the CLI, the seed scripts and the launched training workers.

A leaf module (imports nothing of the package), so that any layer may configure logging.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "[%(asctime)s] [%(levelname)8s] - %(message)s"
logger = logging.getLogger("spleeter_paddle")


def configure_logging(level: int = logging.INFO) -> None:
    """Paddle-style log lines on stderr: ours at ``level``, other libraries' warnings only.

    Replaces the root handler Paddle installs at import (which would print every line twice).
    """
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, force=True)
    logger.setLevel(level)
