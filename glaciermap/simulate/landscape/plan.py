"""The plan of a procedural landscape: what each build phase decides, held for the phases after it.

A procedural scene is planned on the coarse grids before anything is drawn on the scene grid. The phases
(:mod:`.relief`, :mod:`.drainage`, :mod:`.glaciation`, :mod:`.render`) are plain functions over one
:class:`ProceduralPlan`; its attributes are listed in the order the phases set them. Every random draw
comes from ``plan.rng`` in a fixed order, so a seed always gives the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glaciermap.simulate.landscape.fields import box_blur
from glaciermap.simulate.landscape.grid import Grid
from glaciermap.simulate.landscape.model import LandscapeFeatures
from glaciermap.simulate.landscape.noise import FineNoise
from glaciermap.simulate.landscape.valley import Stem, Valley


@dataclass
class IceCap:
    """A plateau ice cap: a dome of ``dome`` metres over ``z_plateau`` within ``radius`` of ``centre``."""

    centre: tuple[float, float]
    radius: float
    z_plateau: float
    dome: float
    gid: int = 0


@dataclass
class Fjord:
    """A fjord's centre line (head first, then seawards, metres) and how it widens towards the sea."""

    xy: np.ndarray
    w_head: float
    widen: float


class ProceduralPlan:
    """The state shared by the phases of one procedural build.

    Set on construction: ``grid``, ``crs``, ``rng``, ``features``, the ELA ``ela`` and the typical summit
    height ``peak`` (metres). Then, in build order:

    * noise fields on the shape grid, unit std: ``mid_noise``, ``mid_noise2`` (120–1500 m), ``cap_lobes``
      (clipped large-scale noise) and the scene-grid tile ``fine``;
    * :func:`.relief.make_sea`: the inland direction ``inland`` and its reference ``s_ref``, ``s_max``,
      the coast offset ``c0``, ``fjords`` with their distance ``fjord_d`` and chainage ``fjord_t`` (shape
      grid, metres), and ``p_field`` (shape grid, metres; < 0 is sea);
    * :func:`.relief.plan_fields`: ``sea_plan`` (planning grid, bool), the distance from the sea
      ``d_sea_plan`` and ``d_sea_shape``, metres;
    * the mountains ``mount`` (shape grid, metres) and, after every change to them,
      :meth:`refresh_plan_elevation`: ``mount_plan`` and its gradient ``grad_mount``;
    * :func:`.relief.make_ice_cap`: ``cap``;
    * :func:`.glaciation.make_valleys`: ``stems``, ``valleys`` (then cirques are appended), the glacier
      ``kinds`` by id and ``head_raises`` for :func:`.glaciation.raise_heads`.
    """

    mid_noise: np.ndarray
    mid_noise2: np.ndarray
    cap_lobes: np.ndarray
    fine: FineNoise
    inland: tuple[float, float]
    s_ref: float
    s_max: float
    c0: float
    fjord_d: np.ndarray
    fjord_t: np.ndarray
    coast_amp: float
    p_field: np.ndarray
    sea_plan: np.ndarray
    d_sea_plan: np.ndarray
    d_sea_shape: np.ndarray
    mount: np.ndarray
    mount_plan: np.ndarray
    grad_mount: tuple[np.ndarray, np.ndarray]
    stems: list[Stem]

    def __init__(
        self, grid: Grid, crs: str, rng: np.random.Generator, features: LandscapeFeatures
    ) -> None:
        self.grid = grid
        self.crs = crs
        self.rng = rng
        self.features = features
        self.ela = float(rng.uniform(250, 600))
        self.peak = float(min(self.ela + rng.uniform(450, 700), 1150.0))
        self.valleys: list[Valley] = []
        self.fjords: list[Fjord] = []
        self.cap: IceCap | None = None
        self.kinds: list[str] = []  # by gid - 1
        self.head_raises: list[tuple[float, float, float, float]] = []

    def refresh_plan_elevation(self) -> None:
        """The smoothed mountains and their gradient on the planning grid, after the mountains change."""
        g = self.grid
        self.mount_plan = box_blur(g.plan_from_shape(self.mount), passes=1)
        gy, gx = np.gradient(self.mount_plan, g.plan_cell)
        self.grad_mount = (gx.astype(np.float32), (-gy).astype(np.float32))

    def new_glacier(self, kind: str) -> int:
        """A new glacier id (1-based) of the given kind."""
        self.kinds.append(kind)
        return len(self.kinds)
