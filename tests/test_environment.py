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
