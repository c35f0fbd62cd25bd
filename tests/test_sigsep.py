"""Without ffmpeg on PATH, musdb/museval fail to import: we say so in one line, with the fix."""

import subprocess
import sys

import pytest

CODE = (
    "from spleeter_paddle.errors import SpleeterError\n"
    "from spleeter_paddle.sigsep import import_{name}\n"
    "try:\n"
    "    import_{name}()\n"
    "except SpleeterError as error:\n"
    "    print(error)\n"
)


@pytest.mark.parametrize("name", ["musdb", "museval"])
def test_missing_ffmpeg_is_one_clear_line(tmp_path, name):
    result = subprocess.run(
        [sys.executable, "-c", CODE.format(name=name)],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{name} needs ffmpeg and ffprobe") and "install" in lines[0]


def test_with_ffmpeg_the_modules_import():
    from spleeter_paddle.sigsep import import_musdb, import_museval

    assert hasattr(import_museval(), "EvalStore") and hasattr(import_musdb(), "DB")
