"""CUDA and CPU give the same prediction within rounding (run with ``pytest -m gpu`` on a GPU machine).

Excluded from the default run (``-m 'not slow and not gpu'``); on a machine without CUDA they skip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def _predict(stack: Path, out: Path, name: str, **settings) -> tuple[np.ndarray, np.ndarray, dict]:
    import json

    import rasterio

    from glaciermap.predict.engine import PredictConfig, predict_stack

    result = predict_stack(WEIGHTS / name, stack, out, PredictConfig(**settings))
    with rasterio.open(result.probability) as p, rasterio.open(result.mask) as m:
        probability, mask = p.read(1), m.read(1)
    return probability, mask, json.loads((out / "predict.json").read_text())


@pytest.mark.parametrize("name", ["unet3d", "convlstm"])
def test_cuda_matches_cpu(name, example_year_stack, tmp_path):
    """float32 on CUDA agrees with the CPU to 1e-3 in probability; bf16 autocast (about 3 significant
    digits) to 0.005 on average and 0.25 at worst, with at most 0.5 % of the mask flipped (pixels near
    the threshold); the same no data in all three."""
    cpu_p, cpu_m, _ = _predict(example_year_stack, tmp_path / "cpu", name, device="cpu")
    f32_p, f32_m, record = _predict(
        example_year_stack, tmp_path / "f32", name, device="cuda", amp=False
    )
    assert record["device"].startswith("cuda")
    bf_p, bf_m, _ = _predict(example_year_stack, tmp_path / "bf16", name, device="cuda")
    valid = np.isfinite(cpu_p)
    for p, m in ((f32_p, f32_m), (bf_p, bf_m)):
        assert np.array_equal(np.isfinite(p), valid)
        assert np.array_equal(m == 255, cpu_m == 255)
    assert float(np.abs(f32_p - cpu_p)[valid].max()) < 1e-3
    bf_error = np.abs(bf_p - cpu_p)[valid]
    assert float(bf_error.mean()) < 0.005 and float(bf_error.max()) < 0.25
    assert float((bf_m != cpu_m)[valid].mean()) < 0.005


def test_cuda_is_deterministic(example_year_stack, tmp_path):
    first, _, _ = _predict(example_year_stack, tmp_path / "a", "unet3d", device="cuda")
    second, _, _ = _predict(example_year_stack, tmp_path / "b", "unet3d", device="cuda")
    assert np.array_equal(first, second, equal_nan=True)
