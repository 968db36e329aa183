"""Speckle: multiplicative Gamma noise seen through the sensor's point-spread function.

IW GRD-H data have a resolution of about 20 m on 10 m pixels, so neighbouring pixels share signal and
speckle; :func:`speckle_power` draws single-look noise and smooths it with the 3 x 3 PSF, which gives the
product's ~4.5 equivalent looks and lag-1 correlation of ~0.5.
"""

from __future__ import annotations

import numpy as np

PSF_SIDE_WEIGHT = 0.29
"""Side weight of the separable 3-tap point-spread function ``[w, 1, w] / (1 + 2w)`` on 10 m pixels.

IW GRD-H has a resolution of about 20 x 22 m on 10 m pixels, so neighbouring pixels share signal and
speckle. With w = 0.29 the lag-1 intensity correlation of the speckle is 0.5, and the speckle of one look
(exponential intensity) smoothed by this kernel has about 4.5 equivalent looks, as the ESA product spec
gives for GRD-H; aggregated to 20 m it has about 8 looks, the level of the real 20 m clip in
``../shared/data/sentinel1`` (see tests/test_simulate_physics.py).
"""


def _psf_sum_sq() -> float:
    """Sum of the squared 2D PSF weights: a field of L independent looks smoothed has L / this looks."""
    w1 = np.array([PSF_SIDE_WEIGHT, 1.0, PSF_SIDE_WEIGHT]) / (1.0 + 2.0 * PSF_SIDE_WEIGHT)
    return float(np.sum(w1**2) ** 2)


def psf_smooth(values: np.ndarray) -> np.ndarray:
    """Apply the 3 x 3 separable point-spread function :data:`PSF_SIDE_WEIGHT` (edges replicated).

    Args:
        values: (H, W) float array.

    Returns:
        (H, W) float32, same mean as ``values`` on homogeneous areas.
    """
    a = PSF_SIDE_WEIGHT
    norm = np.float32(1.0 / (1.0 + 2.0 * a))
    p = np.pad(np.asarray(values, dtype=np.float32), 1, mode="edge")
    rows = (p[:-2, :] * a + p[1:-1, :] + p[2:, :] * a) * norm
    return ((rows[:, :-2] * a + rows[:, 1:-1] + rows[:, 2:] * a) * norm).astype(np.float32)


def speckle_power(
    mean_power: np.ndarray, rng: np.random.Generator, looks: float = 4.5
) -> np.ndarray:
    """Speckled intensity: the mean power times Gamma noise, seen through the 3 x 3 point-spread function.

    Physically, the image is the PSF convolved with (signal x speckle). The noise is drawn as Gamma with
    shape ``L_gen = looks * sum(PSF^2)`` (about 1 for 4.5 looks: single-look exponential intensity) and mean
    1, multiplied by ``mean_power`` and then smoothed by the PSF, so the result has ``looks`` equivalent
    looks at 10 m over homogeneous areas, neighbouring pixels are correlated (lag-1 ≈ 0.5) like GRD-H
    data with ~20 m resolution, and boundaries between surfaces are blurred by one pixel. The dB image is
    ``10 log10`` of this power (log-Gamma statistics, negatively skewed), never Gaussian noise in dB.

    Args:
        mean_power: (H, W) linear gamma0 (not dB), >= 0.
        rng: random generator.
        looks: equivalent number of looks at 10 m (4–5 for HyP3 RTC from IW GRD-H).

    Returns:
        (H, W) float32 linear speckled gamma0; its expected value is the PSF-smoothed ``mean_power``.

    Raises:
        ValueError: ``looks`` is not positive.
    """
    if looks <= 0:
        raise ValueError(f"looks must be positive, got {looks}")
    l_gen = looks * _psf_sum_sq()
    noise = rng.standard_gamma(l_gen, size=mean_power.shape, dtype=np.float32)
    noise *= np.float32(1.0 / l_gen)
    return psf_smooth(noise * np.asarray(mean_power, dtype=np.float32))


def equivalent_looks(power: np.ndarray) -> float:
    """ENL = mean^2 / variance of linear intensity over a homogeneous area."""
    p = np.asarray(power, dtype=np.float64)
    return float(p.mean() ** 2 / p.var())
