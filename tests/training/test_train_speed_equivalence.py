"""What is trained stays what it was: fixed-seed short runs keep their losses (float noise only).

The reference numbers below were produced by this file's runs (``pytest -s`` prints them) with
the training code of commit b70bf28, before the CPU training-speed work (Adam's multi-tensor
kernel, one host sync per log interval): CPU, Paddle 3.3.1, T = 64, F = 128, batch 2, seed 3,
the generated songs of ``conftest.workspace``. A change to the model, the loss, the optimiser, the data order
or the crops moves them by far more than the tolerance below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spleeter_paddle.training import TrainingOptions, train_model

# The stored numbers come from one CPU; another CPU model sums in another order (SIMD width,
# oneDNN/MKL kernels), which after a few Adam steps moves a loss by up to ~1.3e-4 relative
# (measured on an AMD EPYC against these references, with the code of the commit that made
# them). A change to the model, the loss, the optimiser, the data order or the crops moves them by
# percents, so 1e-3 still catches it (on one machine, the side-by-side training step is compared
# with the serial one bit for bit: tests/training/test_side_by_side.py).
RTOL = 1e-3

# Per-step training losses (sum of the per-instrument L1) and validation losses by step.
REFERENCE_LOSSES = [8.75837612, 8.91212654, 8.00118446, 9.11152267, 8.30781364, 8.05000114]
REFERENCE_VALIDATION = {0: 9.95201063, 3: 9.91586208, 6: 9.85712051}
# The same with BatchNorm on batch statistics (``--batch-statistics``): BN's training kernels.
REFERENCE_BATCH_STATISTICS = [8.10665894, 8.59778214, 7.82744312, 8.46615696]


def _run(workspace, run_dir: Path, **changes):
    params, _ = workspace
    options = dict(run_dir=str(run_dir), num_workers=1, log_every=2, device="cpu", seed=3)
    options.update(batch_size=2, save_every=100)
    return train_model(params, TrainingOptions(**{**options, **changes}))


def test_fixed_seed_run_keeps_its_losses(workspace, tmp_path: Path):
    result = _run(workspace, tmp_path / "run", max_steps=6, validate_every=3)
    print("losses", [float(f"{v:.9g}") for v in result.losses], result.validation)
    np.testing.assert_allclose(result.losses, REFERENCE_LOSSES, rtol=RTOL)
    assert sorted(result.validation) == sorted(REFERENCE_VALIDATION)
    for step, value in REFERENCE_VALIDATION.items():
        np.testing.assert_allclose(result.validation[step], value, rtol=RTOL)


def test_fixed_seed_run_with_batch_statistics_keeps_its_losses(workspace, tmp_path: Path):
    result = _run(workspace, tmp_path / "bn", max_steps=4, validate_every=0, batch_statistics=True)
    print("batch statistics", [float(f"{v:.9g}") for v in result.losses])
    np.testing.assert_allclose(result.losses, REFERENCE_BATCH_STATISTICS, rtol=RTOL)
