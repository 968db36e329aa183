"""A valley of the procedural drainage network: its centre line, long profile, trough and glacier.

:class:`Valley` answers the geometric questions every later phase asks (floor and ice-surface elevation,
glacier half-width at a chainage); :class:`Stem` is the path through the drainage network a valley
follows, with the glaciation state decided for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from glaciermap.simulate.landscape.fields import smoothstep
from glaciermap.simulate.landscape.polylines import chainage


@dataclass(eq=False)
class Valley:
    """One valley of the drainage network, its trough and (when glaciated) its glacier.

    Chainage ``t`` runs along :attr:`xy` from the mouth (0: the coast, the junction with the parent
    valley, or where the valley leaves the planning domain) to the head (:attr:`length`); the first
    vertices may lie seaward of the mouth (t < 0). The glacier covers ``t_term < t < t_top``.
    """

    xy: np.ndarray
    mouth_chain: float
    length: float
    w_ice: float
    w_floor: float
    wall: float
    z_mouth: float
    z_head: float
    concavity: float
    kind: str = "trough"
    glaciated: bool = False
    t_term: float = 0.0
    t_top: float = math.inf
    h_ice: float = 0.0
    h_front: float = 0.0
    snout: bool = True
    widen: float = 0.3
    wave: tuple[float, float, float] = (0.0, 1000.0, 0.0)
    basin: tuple[float, float] = (0.0, 0.0)
    cap_floor: tuple[np.ndarray, np.ndarray] | None = None
    gid: int = 0
    debris_len: float = 0.0
    lake: tuple[float, float, float] | None = None
    # Distance and chainage on a coarse grid of cell size ``cell``, window starting at ``origin``.
    cell: float = 0.0
    origin: tuple[int, int] = (0, 0)
    d: np.ndarray | None = None
    t: np.ndarray | None = None
    reach: float = 0.0

    def floor(self, t: np.ndarray) -> np.ndarray:
        """Valley-floor elevation at chainage ``t``: concave long profile, descending below the mouth.

        Where :attr:`cap_floor` is set (chainages, elevations: the terrain along the valley), the floor
        also stays below it, keeping the valley, and its glacier, down in the mountains.
        """
        u = np.clip(t / self.length, 0.0, None)
        f = self.z_mouth + (self.z_head - self.z_mouth) * u**self.concavity
        if self.cap_floor is not None:
            f = np.minimum(f, np.interp(t, *self.cap_floor))
        return np.where(t < 0, self.z_mouth + 0.08 * t, f).astype(np.float32)

    def chainage_at(self, z: float) -> float:
        """The first chainage from the mouth where the floor reaches elevation ``z`` (-1 below it)."""
        if z <= self.z_mouth:
            return -1.0
        t = np.linspace(0.0, self.length, max(2, int(self.length // 20) + 1))
        f = self.floor(t)
        above = np.nonzero(f >= z)[0]
        return float(t[above[0]]) if len(above) else self.length

    def ice_floor(self, t: np.ndarray) -> np.ndarray:
        """The floor the ice rests on: never below sea level (a tidewater tongue floats at its front)."""
        f = self.floor(t)
        return np.maximum(f, 0.0) if self.h_front > 0 else f

    def _upper_taper(self, t: np.ndarray) -> np.ndarray:
        """1 below ``t_top``, falling to 0 over about a glacier width above it (ice fed from a side)."""
        if not math.isfinite(self.t_top):
            return np.ones_like(t)
        return np.sqrt(np.clip((self.t_top - t) / (0.9 * self.w_ice), 0.0, 1.0))

    def thickness(self, t: np.ndarray) -> np.ndarray:
        """Ice surface height above the floor at chainage ``t``, metres (0 beyond the terminus)."""
        if not self.glaciated:
            return np.zeros_like(t)
        taper = min(max(0.3 * (min(self.length, self.t_top) - self.t_term), 150.0), 1500.0)
        s = np.clip((t - self.t_term) / taper, 0.0, 1.0)
        h = (self.h_front + (self.h_ice - self.h_front) * np.sqrt(s)) * self._upper_taper(t)
        return np.where(t > self.t_term, h, 0.0).astype(np.float32)

    def half_width(self, t: np.ndarray) -> np.ndarray:
        """Glacier half-width at chainage ``t``: wider upstream, wavy, rounded at a land snout."""
        span = max(self.length - self.t_term, 1.0)
        rel = np.clip((t - self.t_term) / span, 0.0, 1.0)
        amp, wavelength, phase = self.wave
        w = self.w_ice * (1 - self.widen / 2 + self.widen * rel)
        # Accumulation basins spread wider than tongues: widen with height above the ELA.
        ela, spread = self.basin
        if spread:
            w = w * (1 + spread * smoothstep((self.floor(t) - ela + 100) / 400))
        w = w * (1 + amp * np.sin(2 * np.pi * t / wavelength + phase)) * self._upper_taper(t)
        if self.snout:
            w = w * np.sqrt(np.clip((t - self.t_term) / (0.9 * self.w_ice), 0.0, 1.0))
        return w.astype(np.float32)

    def bbox(self) -> tuple[float, float, float, float]:
        """Bounding box of everything the valley touches (line plus reach), metres."""
        (xmin, ymin), (xmax, ymax) = self.xy.min(axis=0), self.xy.max(axis=0)
        return (xmin - self.reach, ymin - self.reach, xmax + self.reach, ymax + self.reach)

    def point_at(self, t: float) -> tuple[float, float]:
        """The centre-line point at chainage ``t`` (from the mouth), metres."""
        chain = chainage(self.xy) - self.mouth_chain
        return (
            float(np.interp(t, chain, self.xy[:, 0])),
            float(np.interp(t, chain, self.xy[:, 1])),
        )


@dataclass(eq=False)
class Stem:
    """A path through the drainage network: from its mouth up the largest branch to the divide.

    Attributes:
        cells: planning-grid flat indices, mouth first.
        parent: index of the stem it joins (-1: it drains to the sea or off the domain).
        outlet: the cell it drains into (sea, domain edge, or the junction cell on its parent).
        area_km2: drainage area at the mouth.
    """

    cells: list[int]
    parent: int
    outlet: int
    area_km2: float
    root: int = 0
    t_join: float = 0.0
    valley: Valley | None = None
    children: list[int] = field(default_factory=list)
    head_ice: bool = False
    z_stop: float = -math.inf
    reaches_mouth: bool = False
    merges: bool = False
