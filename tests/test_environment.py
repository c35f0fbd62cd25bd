"""The environment decided before Paddle loads: MKL's AVX2 kernels on AMD CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spleeter_paddle.environment import prefer_mkl_avx2

ZEN3 = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx fma avx2 bmi2\n"


def _cpuinfo(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(text * 2)  # one block per core, as Linux writes it
    return str(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        (ZEN3, "5"),
        (ZEN3.replace("AuthenticAMD", "GenuineIntel"), None),  # MKL's own choice is right there
        (ZEN3.replace(" avx2", ""), None),  # AVX2 kernels would fault on this CPU
        ("processor\t: 0\n", None),  # no vendor line (an ARM kernel)
    ],
)
def test_mkl_avx2_is_chosen_on_amd_cpus_with_avx2_only(tmp_path: Path, text, expected):
    environ: dict = {}
    assert prefer_mkl_avx2(environ, _cpuinfo(tmp_path, text)) is (expected is not None)
    assert environ.get("MKL_DEBUG_CPU_TYPE") == expected


def test_the_users_choice_and_a_missing_cpuinfo_are_left_alone(tmp_path: Path):
    environ = {"MKL_DEBUG_CPU_TYPE": ""}  # empty: MKL's generic path, as the user asked
    assert not prefer_mkl_avx2(environ, _cpuinfo(tmp_path, ZEN3))
    assert environ == {"MKL_DEBUG_CPU_TYPE": ""}
    environ = {}
    assert not prefer_mkl_avx2(environ, str(tmp_path / "absent"))
    assert environ == {}


def test_a_process_that_loads_paddle_runs_with_the_choice_for_its_cpu():
    """``runtime`` applies the rule before Paddle (and its MKL) loads, in every process."""
    environ = {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"}
    code = "import os, spleeter_paddle.runtime; print(os.environ.get('MKL_DEBUG_CPU_TYPE'))"
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == ("5" if prefer_mkl_avx2({}) else "None")


# A signal sent while Paddle loads, after its C handlers are in (``paddle.base`` has run its
# bootstrap: glog's and Paddle's handlers): once, from an import hook, at Paddle's next module.
_SIGNAL_WHILE_PADDLE_LOADS = """
import os, signal, sys
import spleeter_paddle
from spleeter_paddle.commands import run_guarded

class SignalMidLoad:
    sent = False

    def find_spec(self, name, path=None, target=None):
        number = getattr(signal, sys.argv[1])
        base = sys.modules.get("paddle.base")
        loaded = base is not None and not getattr(base.__spec__, "_initializing", False)
        if name.startswith("paddle.") and loaded and not self.sent:
            self.sent = True
            os.kill(os.getpid(), number)
        return None

def run(args):
    import spleeter_paddle.runtime
    print("loaded")
    return 0

sys.meta_path.insert(0, SignalMidLoad())
sys.exit(run_guarded(run, None, "probe"))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("name, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_while_paddle_loads_is_one_line_after_the_load(name, status):
    # Paddle's own handlers print a C++ "FatalError" stack and kill the process with nothing
    # cleaned up; the signal waits until they are replaced, then unwinds the command.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_PADDLE_LOADS, name],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert "FatalError" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("probe: interrupted")
    assert "loaded" not in result.stdout
