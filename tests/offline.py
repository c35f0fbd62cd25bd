"""Helpers for tests that must not reach the network (importable from any test module)."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def closed_local_port() -> int:
    """A 127.0.0.1 TCP port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def offline_pip_environment(wheelhouse: Path) -> dict:
    """Environment making ``pip download`` use only ``wheelhouse`` and GitHub unreachable."""
    return {
        "GITHUB_HOST": f"http://127.0.0.1:{closed_local_port()}",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
    }
