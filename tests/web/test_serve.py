"""``spleeter-paddle serve`` as users run it: a real server process, a real headless Chromium
(Debian's ``chromium`` + ``chromium-driver``, driven by Selenium), raw HTTP for the upload limit.

Set ``SPLEETER_PADDLE_WEB_SCREENSHOT=docs/web.png`` to keep the page's screenshot.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile

import pytest
import soundfile as sf
from web_helpers import all_files, hidden_files, write_song

from spleeter_paddle.commands.serve import check_host

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
LIMIT_MB = 1
# Scripts run in the page see DEMO: the card of the song the test checks (the older of two).
_DEMO = (
    "const DEMO = [...document.querySelectorAll('article.job.done')].find("
    "c => c.querySelector('h2').firstChild.textContent === 'demo song.wav')"
    " || document.createElement('div');\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(official_model_path, tmp_path_factory):
    """``spleeter-paddle serve`` on a free port of 127.0.0.1, with a 1 MB upload limit."""
    root = tmp_path_factory.mktemp("serve")
    port = _free_port()
    log = open(root / "server.log", "w+")  # noqa: SIM115 (read back by the tests)
    command = [sys.executable, "-m", "spleeter_paddle", "serve", "--port", str(port)]
    command += ["--work-dir", str(root / "work"), "--max-upload-mb", str(LIMIT_MB)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/options", timeout=2) as response:
                assert json.load(response)["max_upload_mb"] == LIMIT_MB
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"serve did not start (exit {process.poll()}):\n{log.read()}")
            time.sleep(0.2)
    yield {"url": url, "port": port, "work": root / "work", "process": process, "log": log}
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def _browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        message = "Debian's chromium and chromium-driver are needed: apt-get install chromium chromium-driver"
        if os.environ.get("SPLEETER_PADDLE_ALLOW_NO_BROWSER") == "1":
            pytest.skip(message)
        pytest.fail(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1100,1300", "--autoplay-policy=no-user-gesture-required",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(driver, condition, timeout_s=120.0, what="the page"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(_DEMO + condition)
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}: {driver.find_element('tag name', 'body').text}")


def _script(driver, code):
    return driver.execute_script(_DEMO + code)


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_the_page_separates_a_dropped_song_in_a_real_browser(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium never downloads a browser or driver
    song = write_song(tmp_path / "demo song.wav", duration_s=2.0)
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(os.urandom(20000))
    big = write_song(tmp_path / "too long.wav", duration_s=7.0)  # 1.2 MB > 1 MB limit
    newer = write_song(tmp_path / "newer.wav", duration_s=1.0, seed=1)
    driver = _browser(tmp_path)
    try:
        driver.get(server["url"])
        _wait(driver, "return document.querySelectorAll('#preset option').length === 6")
        driver.find_element("id", "files").send_keys(
            "\n".join(str(p) for p in (noise, big, song, newer))
        )
        _wait(driver, "return document.querySelectorAll('article.job.done .stem').length === 4",
              what="the stems")  # fmt: skip
        notices = driver.find_element("id", "notices").text
        assert "noise.mp3: cannot decode, the file is corrupt, truncated or not audio" in notices
        assert "too long.wav: file is larger than the upload limit (1 MB)" in notices
        for attempt in range(2):  # a reload shows the same job from the server
            if attempt:
                driver.refresh()
            _wait(driver, "return DEMO.querySelectorAll('audio').length === 2",
                  what="players after a reload")  # fmt: skip
            durations = _wait(driver, """
                const players = [...DEMO.querySelectorAll('audio')];
                return players.every(a => a.readyState >= 1) && players.map(a => a.duration);
            """, what="the players to load")  # fmt: skip
            assert durations == pytest.approx([2.0, 2.0], abs=1e-3)
            widths = _script(
                driver, "return [...DEMO.querySelectorAll('img')].map(i => i.naturalWidth)"
            )
            assert widths == [800, 800]
            if not attempt:  # the page as the user left it: stems and refused files
                screenshot = (
                    os.environ.get("SPLEETER_PADDLE_WEB_SCREENSHOT") or tmp_path / "web.png"
                )
                assert driver.save_screenshot(str(screenshot))
                # A stem of the older song (second card) keeps playing through the refreshes.
                _script(
                    driver,
                    """
                    const player = DEMO.querySelector('audio');
                    player.loop = true; player.muted = true; player.play();""",
                )
                time.sleep(3.5)  # past a refresh (every 3 s when idle)
                assert _script(
                    driver,
                    """
                    const player = DEMO.querySelector('audio');
                    return !player.paused && player.played.length > 0;""",
                )
        assert driver.find_elements("css selector", "article.job.done h2")[1].text.startswith(
            "demo song.wav"
        )
        links = driver.find_elements("css selector", "article.job.done")[1].find_elements(
            "css selector", "a[download]"
        )
        assert [link.text for link in links] == [
            "download vocals.wav", "download accompaniment.wav", "download all stems (zip)",
        ]  # fmt: skip
        for link in links[:2]:
            status, headers, body = _get(link.get_attribute("href"))
            assert status == 200 and headers["Content-Disposition"].startswith("attachment")
            assert sf.info(io.BytesIO(body)).frames == 2 * 44100
        status, _, body = _get(links[2].get_attribute("href"))
        assert sorted(zipfile.ZipFile(io.BytesIO(body)).namelist()) == [
            "demo song/accompaniment.wav", "demo song/vocals.wav",
        ]  # fmt: skip
    finally:
        driver.quit()


def test_a_long_file_name_wraps_inside_the_window(server, tmp_path, monkeypatch):
    """A 200-character name on a card and in a refusal notice wraps: the page never gets wider
    than the window (it was twice as wide)."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    long_song = write_song(tmp_path / ("a" * 200 + ".wav"), duration_s=0.5, seed=2)
    long_noise = tmp_path / ("b" * 200 + ".mp3")
    long_noise.write_bytes(os.urandom(2000))
    driver = _browser(tmp_path)
    try:
        driver.get(server["url"])
        _wait(driver, "return document.querySelectorAll('#preset option').length === 6")
        driver.find_element("id", "files").send_keys(f"{long_noise}\n{long_song}")
        _wait(driver, "return [...document.querySelectorAll('article.job h2')].some("
              "h => h.textContent.startsWith('aaaa')) && document.querySelector('.notice')",
              what="the long-named card and notice")  # fmt: skip
        widths = _script(driver, "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
    finally:
        driver.quit()


def test_a_second_server_on_the_work_folder_refuses_to_start(server):
    command = [sys.executable, "-m", "spleeter_paddle", "serve", "--port", str(_free_port())]
    command += ["--work-dir", str(server["work"])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"(process {server['process'].pid})" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def _raw_upload(port: int, headers: str, body_chunks=()):
    """Send a POST by hand; returns the status line the server answers with."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        connection.sendall(headers.encode())
        try:
            for chunk in body_chunks:
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: the answer is already there
        return connection.recv(4096).decode(errors="replace").split("\r\n")[0]


def test_the_upload_limit_stops_the_upload_while_it_streams(server):
    request = "POST /api/jobs?name=big.wav HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    request += "Content-Type: application/octet-stream\r\n"
    # A declared size over the limit is refused before a byte of the body is sent.
    status = _raw_upload(server["port"], request + "Content-Length: 999999999999\r\n\r\n")
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    # Without a declared size, the server answers once the limit is passed, with the body still
    # coming (this client never sends the end of it).
    sent = [0]

    def chunks():
        for _ in range(LIMIT_MB * 16 + 4):
            sent[0] += 1
            yield b"10000\r\n" + b"z" * 0x10000 + b"\r\n"

    status = _raw_upload(server["port"], request + "Transfer-Encoding: chunked\r\n\r\n", chunks())
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert not [f for f in all_files(server["work"]) if f.startswith("uploads/")]


def test_serve_stops_cleanly_on_sigterm(server):
    process = server["process"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 128 + signal.SIGTERM  # like every command: 143
    server["log"].seek(0)
    log = server["log"].read()
    assert "Traceback" not in log and "open http://127.0.0.1:" in log
    assert log.rstrip().endswith("spleeter-paddle: interrupted (SIGTERM)")
    assert "WARNING" not in log.split("open http")[0]  # no wide-host warning on 127.0.0.1
    assert not hidden_files(server["work"])


def test_a_wider_host_logs_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="spleeter_paddle")
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_host(host, 8000)
    assert not caplog.records
    check_host("0.0.0.0", 8000)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "anyone who can reach this machine" in caplog.records[0].getMessage()


def test_serve_without_the_web_extra_says_how_to_install_it():
    # The core install has no fastapi: the command names the extra instead of a traceback.
    script = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from spleeter_paddle.cli import main\n"
        "sys.exit(main(['serve']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "spleeter-paddle: error: serve needs the web extra (uvicorn is missing): pip install -e '.[web]'"
    )
