"""The web page on a full disk: an upload that cannot be stored is one JSON error line (507)
without a server path, and nothing is left in the work folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

SCRIPT = """
import io, json, os, sys
import numpy as np, soundfile as sf
from fastapi.testclient import TestClient
from spleeter_paddle.web.app import create_app
song = io.BytesIO()
sf.write(song, np.zeros((44100 * 2, 2), np.float32), 44100, format="WAV", subtype="FLOAT")
with TestClient(create_app("small/work"), base_url="http://127.0.0.1") as client:
    response = client.post(
        "/api/jobs", params={"name": "song.wav", "preset": "spleeter:2stems"},
        content=song.getvalue(), headers={"Content-Type": "application/octet-stream"},
    )
print(json.dumps({"status": response.status_code, "body": response.text}))
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="needs user namespaces (unshare)")
def test_an_upload_on_a_full_disk_is_one_error_and_leaves_nothing(tmp_path):
    (tmp_path / "small").mkdir()
    (tmp_path / "script.py").write_text(SCRIPT)
    script = f"mount -t tmpfs -o size=64k tmpfs small && {sys.executable} script.py; status=$?"
    script += " ; echo LEFT: ; find small/work/uploads -type f ; exit $status"
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report, left = result.stdout.split("LEFT:")
    response = json.loads(report.strip().splitlines()[-1])
    assert response["status"] == 507, response
    assert "song.wav: cannot store the upload (no space left on the device)" in response["body"]
    assert "small" not in response["body"] and "Traceback" not in result.stderr
    assert left.split() == []
