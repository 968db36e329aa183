"""Spatial helpers of the radar physics (numpy only): smooth random fields, window and block means."""

from __future__ import annotations

import math

import numpy as np


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], corr_px: float, count: int = 1
) -> np.ndarray:
    """Smooth Gaussian random fields with zero mean and unit variance.

    White noise is filtered with a Gaussian kernel (via ``numpy.fft``) on a grid coarser than the output
    by about a third of the correlation length, then interpolated bilinearly to ``shape``: the fields are
    low-frequency anyway, and the coarse grid makes a 1000 x 1000 field cost a few milliseconds. The
    coarse grid is padded by two correlation lengths so the FFT's wrap-around does not tie opposite edges.

    Args:
        rng: random generator.
        shape: (H, W) of the output, pixels.
        corr_px: standard deviation of the Gaussian smoothing kernel, output pixels (> 0).
        count: how many independent fields.

    Returns:
        (count, H, W) float32, each field with about zero mean and unit standard deviation over the grid.
    """
    h, w = shape
    step = max(1, int(corr_px / 3.0))
    sigma = corr_px / step
    pad = math.ceil(2.0 * sigma) + 1
    hc = h // step + 2 + 2 * pad
    wc = w // step + 2 + 2 * pad
    noise = rng.standard_normal((count, hc, wc), dtype=np.float32)
    fy = np.fft.fftfreq(hc)[:, None]
    fx = np.fft.rfftfreq(wc)[None, :]
    kernel = np.exp(-2.0 * (math.pi * sigma) ** 2 * (fy**2 + fx**2)).astype(np.float32)
    coarse = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(hc, wc)).astype(np.float32)
    # Normalise on the coarse cells the output covers (cheaper than on the output, and bilinear
    # interpolation of a field this smooth changes its variance by a percent or two at most).
    inner = coarse[:, pad : pad + h // step + 2, pad : pad + w // step + 2]
    mean = inner.mean(axis=(1, 2), keepdims=True)
    std = inner.std(axis=(1, 2), keepdims=True)
    coarse = (coarse - mean) / np.where(std > 0, std, 1.0)
    # Output pixel centres in coarse-grid coordinates (coarse cell k covers output pixels k*step..).
    yc = (np.arange(h, dtype=np.float32) + 0.5) / step - 0.5 + pad
    xc = (np.arange(w, dtype=np.float32) + 0.5) / step - 0.5 + pad
    y0 = np.floor(yc).astype(np.intp)
    x0 = np.floor(xc).astype(np.intp)
    ty = (yc - y0)[None, :, None]
    tx = (xc - x0)[None, None, :]
    # One field at a time, in place: a full-size temporary per field instead of several per stack.
    out = np.empty((count, h, w), dtype=np.float32)
    for i in range(count):
        rows = coarse[i, y0, :] * (1.0 - ty[0]) + coarse[i, y0 + 1, :] * ty[0]
        np.multiply(rows[:, x0], 1.0 - tx[0], out=out[i])
        out[i] += rows[:, x0 + 1] * tx[0]
    return out


def box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1) x (2r+1) window around each pixel (edges replicated), via an integral image.

    Args:
        values: (H, W) array (bool or numeric).
        radius: window half-width, pixels (0 returns a float copy).

    Returns:
        (H, W) float32 window means.
    """
    v = np.asarray(values, dtype=np.float64)
    if radius <= 0:
        return v.astype(np.float32)
    padded = np.pad(v, radius + 1, mode="edge")
    padded[0, :] = 0.0
    padded[:, 0] = 0.0
    ii = padded.cumsum(axis=0).cumsum(axis=1)
    k = 2 * radius + 1
    h, w = v.shape
    s = ii[k : k + h, k : k + w] - ii[0:h, k : k + w] - ii[k : k + h, 0:w] + ii[0:h, 0:w]
    return (s / (k * k)).astype(np.float32)


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (the last partial blocks are padded by replicating edges).

    Args:
        values: (H, W) array.
        factor: block edge, pixels.

    Returns:
        (ceil(H / factor), ceil(W / factor)) float32.

    Raises:
        ValueError: ``factor`` is below 1.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    h, w = values.shape
    hb, wb = -(-h // factor), -(-w // factor)
    v = np.asarray(values, dtype=np.float32)
    if (hb * factor, wb * factor) != (h, w):
        v = np.pad(v, ((0, hb * factor - h), (0, wb * factor - w)), mode="edge")
    return v.reshape(hb, factor, wb, factor).mean(axis=(1, 3), dtype=np.float32)


def soft_clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Squash ``x`` smoothly into ``(lo, hi)`` (tanh around the centre: no flat plateaus at the ends)."""
    c = 0.5 * (lo + hi)
    h = 0.5 * (hi - lo)
    return (c + h * np.tanh((x - c) / h)).astype(np.float32)
