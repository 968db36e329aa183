"""Spectral (FFT) fractal noise: the random fields that shape coasts, mountains and margins.

:func:`fractal_noise` draws one band-limited power-law field; :class:`FineNoise` is a periodic tile of
such noise read anywhere on the scene grid, for pixel-scale texture on scenes of any size.
"""

from __future__ import annotations

import numpy as np


def _next_fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFT sizes that pocketfft handles fast."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def fractal_noise(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    cell_m: float,
    beta: float,
    min_wavelength_m: float,
    max_wavelength_m: float,
    periodic: bool = False,
) -> np.ndarray:
    """Gaussian noise with a power-law spectrum (power ~ 1/k^beta) between two wavelengths.

    Args:
        shape: (ny, nx) cells.
        rng: random generator.
        cell_m: cell size, metres.
        beta: spectral exponent (2: rough, 3: smooth, terrain-like).
        min_wavelength_m, max_wavelength_m: band limits, metres (soft Gaussian roll-offs).
        periodic: keep the FFT's wrap-around (for tiles repeated across a scene); otherwise the field is
            cut from a larger periodic one so opposite edges are unrelated.

    Returns:
        (ny, nx) float32, zero mean, unit standard deviation.
    """
    ny, nx = shape
    fy, fx = (ny, nx) if periodic else (_next_fast_len(ny + ny // 4), _next_fast_len(nx + nx // 4))
    spectrum = np.fft.rfft2(rng.standard_normal((fy, fx), dtype=np.float32))
    ky = np.fft.fftfreq(fy, d=cell_m).astype(np.float32)
    kx = np.fft.rfftfreq(fx, d=cell_m).astype(np.float32)
    k = np.hypot(ky[:, None], kx[None, :])
    k[0, 0] = 1.0
    amplitude = k ** (-beta / 2)
    amplitude *= -np.expm1(-((k * max_wavelength_m) ** 2))
    amplitude *= np.exp(-((k * min_wavelength_m) ** 2))
    amplitude[0, 0] = 0.0
    field_ = np.fft.irfft2(spectrum * amplitude, s=(fy, fx))[:ny, :nx]
    field_ -= field_.mean()
    std = field_.std()
    return (field_ / std if std > 0 else field_).astype(np.float32)


class FineNoise:
    """A periodic fractal noise tile, read anywhere on the scene grid (with per-use offsets).

    Repeating a 10 km tile is invisible: it only adds small-scale texture on top of larger, unrepeated
    fields, and different uses read it at different offsets.
    """

    def __init__(self, rng: np.random.Generator, ps: float, scene_px: int) -> None:
        size = 256
        while size < min(scene_px, 1024):
            size *= 2
        self.size = size
        self.tile = fractal_noise(
            (size, size),
            rng,
            cell_m=ps,
            beta=2.6,
            min_wavelength_m=3 * ps,
            max_wavelength_m=min(size * ps / 3, 1500.0),
            periodic=True,
        )

    def window(self, win: tuple[int, int, int, int], offset: int = 0) -> np.ndarray:
        """(h, w) float32 noise for scene window (r0, r1, c0, c1); ``offset`` picks another copy."""
        r0, r1, c0, c1 = win
        rows = (np.arange(r0, r1) + 311 * offset) % self.size
        cols = (np.arange(c0, c1) + 577 * offset) % self.size
        if offset % 2:
            # Transposed reads decorrelate uses further than shifts alone.
            return self.tile.T[np.ix_(rows, cols)]
        return self.tile[np.ix_(rows, cols)]
