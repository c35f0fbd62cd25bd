"""The official GitHub release of Spleeter's models: archive URLs (host, repository and release
overridable by environment like Spleeter's provider), their sha256, and the checked download.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Dict, Optional

from ..errors import ModelError
from .archives import download, fetch

logger = logging.getLogger(__name__)

DEFAULT_GITHUB_HOST = "https://github.com"
DEFAULT_GITHUB_REPOSITORY = "deezer/spleeter"
DEFAULT_GITHUB_RELEASE = "v1.4.0"
# sha256 of the v1.4.0 release archives (Spleeter's checksum.json, as asserted by deezer/spleeter
# tests/test_github_model_provider.py).
RELEASE_ARCHIVE_SHA256 = {
    "2stems": "f3a90b39dd2874269e8b05a48a86745df897b848c61f3958efc80a39152bd692",
    "4stems": "3adb4a50ad4eb18c7c4d65fcf4cf2367a07d48408a5eb7d03cd20067429dfaa8",
    "5stems": "25a1e87eb5f75cc72a4d2d5467a0a50ac75f05611f877c278793742513cc7218",
}


def _github_settings() -> Dict[str, str]:
    return {
        "host": os.environ.get("GITHUB_HOST", DEFAULT_GITHUB_HOST).rstrip("/"),
        "repository": os.environ.get("GITHUB_REPOSITORY", DEFAULT_GITHUB_REPOSITORY).strip("/"),
        "release": os.environ.get("GITHUB_RELEASE", DEFAULT_GITHUB_RELEASE),
    }


def release_url(file_name: str, github: Optional[Dict[str, str]] = None) -> str:
    """``{GITHUB_HOST}/{GITHUB_REPOSITORY}/releases/download/{GITHUB_RELEASE}/<file_name>``
    (``github``: ``{"host", "repository", "release"}``, default from the environment)."""
    github = github or _github_settings()
    return (
        f"{github['host']}/{github['repository']}/releases/download/{github['release']}/{file_name}"
    )


def release_archive_url(name: str, github: Optional[Dict[str, str]] = None) -> str:
    return release_url(f"{name}.tar.gz", github)


def archive_sha256(name: str, github: Optional[Dict[str, str]] = None) -> str:
    """The sha256 of release archive ``name``: known for the official release, else read from
    the release's ``checksum.json``. ModelError when it cannot be read or has no entry."""
    github = github or _github_settings()
    official = (github["repository"], github["release"]) == (
        DEFAULT_GITHUB_REPOSITORY,
        DEFAULT_GITHUB_RELEASE,
    )
    if official and name in RELEASE_ARCHIVE_SHA256:
        return RELEASE_ARCHIVE_SHA256[name]
    url = release_url("checksum.json", github)
    body = bytearray()
    try:
        fetch(url, body.extend, max_bytes=1 << 20)
        index = json.loads(body.decode("utf-8"))
    except (ModelError, ValueError) as error:
        raise ModelError(f"cannot read checksum index {url} ({error})") from None
    if not isinstance(index, dict) or not isinstance(index.get(name), str):
        raise ModelError(f"checksum index {url} has no entry for '{name}'")
    return index[name].lower()


def download_release_archive(
    name: str,
    directory: Path,
    max_bytes: Optional[int] = None,
    github: Optional[Dict[str, str]] = None,
) -> Path:
    """``<directory>/<name>.tar.gz`` from the release (at most ``max_bytes``), sha256-checked."""
    expected = archive_sha256(name, github)
    url = release_archive_url(name, github)
    archive = directory / f"{name}.tar.gz"
    logger.info("downloading %s", url)
    actual = download(url, archive, max_bytes)
    if actual != expected:
        archive.unlink(missing_ok=True)
        raise ModelError(f"downloaded file is corrupted (sha256 {actual}, expected {expected})")
    return archive
