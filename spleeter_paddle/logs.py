"""Log set-up shared by the CLI, the seed scripts and the launched workers (a leaf module)."""

from __future__ import annotations

import logging

LOG_FORMAT = "[%(asctime)s] [%(levelname)8s] - %(message)s"
logger = logging.getLogger("spleeter_paddle")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x1b``):
    a file name holding a newline cannot forge a log line or an ``ERROR`` line."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


class OneLineFormatter(logging.Formatter):
    """Every record is one line (messages carry user-supplied names; tracebacks stay out)."""

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def configure_logging(level: int = logging.INFO) -> None:
    """Paddle-style log lines on stderr: ours at ``level``, other libraries' warnings only (the
    root handler Paddle installs at import is replaced: it would print every line twice)."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, force=True)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    logger.setLevel(level)
