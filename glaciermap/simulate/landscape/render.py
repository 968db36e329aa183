"""Rendering a procedural plan on the scene grid: troughs, ice, sea, then the small features.

Steps 5 and 6 of the build (see :mod:`glaciermap.simulate.landscape`): each valley carves a U-shaped
trough whose walls rise to the mountains from the level its ice fills; the ice surface is smooth, concave
along the valley and gently convex across it, and where two ice bodies overlap the higher surface wins
(ice divides). The ice cap, debris, lakes, snow patches and fast ice follow, and the outlines are
vectorised from the final glacier-id raster. Work runs in row strips, so memory stays flat on large
scenes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glaciermap.simulate.landscape.fields import box_blur, distance_to, masked_smooth, wall_shape
from glaciermap.simulate.landscape.grid import strips
from glaciermap.simulate.landscape.model import Landscape, Surface
from glaciermap.simulate.landscape.names import glacier_names
from glaciermap.simulate.landscape.plan import ProceduralPlan
from glaciermap.simulate.landscape.polylines import polyline_distance
from glaciermap.simulate.landscape.terrain import (
    SHORE_M,
    place_lake,
    place_snow_patches,
    place_tundra_lakes,
)
from glaciermap.simulate.landscape.truth import polygonal_outlines
from glaciermap.simulate.landscape.valley import Valley


@dataclass
class FineValley:
    """A valley's fields on a window of the scene grid."""

    win: tuple[int, int, int, int]
    t: np.ndarray  # chainage from the mouth, metres
    t_eff: np.ndarray  # chainage with noise (snout, debris, lake edges)
    d_eff: np.ndarray  # distance from the centre line with noise (margins)
    w: np.ndarray  # glacier half-width at t_eff
    noise: np.ndarray  # mid-scale noise, unit std


def assemble(plan: ProceduralPlan) -> Landscape:
    """Render the plan on the scene grid: terrain, ice, sea, then the small features."""
    g, rng = plan.grid, plan.rng
    h, w = g.height, g.width
    xs, ys = g.fine_xy(0, h, 0, w)
    mount = g.sample_shape(plan.mount, xs, ys, smooth=True)
    for r0, r1 in strips(h):
        # Rock texture grows with height above the lowland: gullies and crags on the mountains.
        strip = mount[r0:r1]
        strip += (2.0 + 0.012 * np.maximum(strip - 12.0, 0)) * plan.fine.window((r0, r1, 0, w))
    rock = mount.copy()
    # Troughs first (every valley), then glaciers on top; a valley's fine fields are recomputed
    # for each pass rather than kept, which keeps memory flat on large scenes.
    for v in plan.valleys:
        for win in _valley_windows(plan, v):
            _carve(plan, v, win, mount, rock)
    del mount
    ice_z = np.full((h, w), -np.inf, dtype=np.float32)
    owner = np.zeros((h, w), dtype=np.int32)  # 1 + index into plan.valleys; -1: the ice cap
    for i, v in enumerate(plan.valleys):
        if v.glaciated:
            for win in _valley_windows(plan, v):
                _lay_ice(plan, i, v, win, rock, ice_z, owner)
    if plan.cap is not None:
        _assemble_cap(plan, rock, ice_z, owner)
    ice = owner != 0
    dem = rock
    dem[ice] = masked_smooth(ice_z, ice, max(1, round(30 / g.ps)))[ice]
    del ice_z
    sea = np.zeros((h, w), dtype=bool)
    for r0, r1 in strips(h):
        # Land detail on flat floors (the troughs replaced the mountain texture there).
        dem[r0:r1] += 1.2 * plan.fine.window((r0, r1, 0, w), offset=2)
        if plan.features.sea:
            p = g.sample_shape(plan.p_field, xs, ys[r0:r1])
            p += 12.0 * plan.fine.window((r0, r1, 0, w), offset=3)
            sea[r0:r1] = (p < 0) & ~ice[r0:r1]
        # Outwash plains and deltas rise gently from the shore instead of lying flat at sea level.
        plain = 1.0 + 0.012 * g.sample_shape(plan.d_sea_shape, xs, ys[r0:r1])
        np.maximum(dem[r0:r1], plain, out=dem[r0:r1])
    surface = np.full((h, w), Surface.LAND, dtype=np.uint8)
    surface[sea] = Surface.SEA
    surface[ice] = Surface.GLACIER
    del sea
    gid_of = np.zeros(len(plan.valleys) + 2, dtype=np.int32)
    for i, v in enumerate(plan.valleys):
        gid_of[i + 1] = v.gid
    if plan.cap is not None:
        gid_of[-1] = plan.cap.gid  # owner -1 indexes the last entry
    glacier = gid_of[owner]
    glacier[~ice] = 0
    del owner, ice
    _debris(plan, glacier, dem, surface)
    _lakes(plan, dem, surface)
    place_snow_patches(
        rng,
        g,
        dem,
        surface,
        plan.fine,
        plan.features.snow_patches,
        max(120.0, plan.ela - 250.0),
    )
    glacier, kinds = _finish_glaciers(plan, glacier, surface)
    fast_ice = _fast_ice(plan, glacier, kinds, surface)
    dem[surface == Surface.SEA] = 0.0
    names = glacier_names(rng, kinds)
    attributes = {i + 1: {"glacier_name": names[i], "kind": kinds[i]} for i in range(len(kinds))}
    outlines = polygonal_outlines(
        glacier, g.transform, plan.crs, attributes, ("glacier_name", "kind")
    )
    return Landscape(
        crs=plan.crs,
        transform=g.transform,
        dem=dem.astype(np.float32, copy=False),
        surface=surface,
        glacier_id=glacier.astype(np.int32, copy=False),
        fast_ice=fast_ice,
        outlines=outlines,
        ela_m=plan.ela,
    )


def _valley_windows(plan: ProceduralPlan, v: Valley) -> list[tuple[int, int, int, int]]:
    """The scene window a valley touches, in row strips (bounded memory for big valleys)."""
    r0, r1, c0, c1 = plan.grid.fine_window(v.bbox())
    if r1 <= r0 or c1 <= c0:
        return []
    return [(a + r0, b + r0, c0, c1) for a, b in strips(r1 - r0, 768)]


def _carve(
    plan: ProceduralPlan,
    v: Valley,
    win: tuple[int, int, int, int],
    mount: np.ndarray,
    rock: np.ndarray,
) -> None:
    """A valley's trough: a floor at the level its ice fills, walls rising to the mountains."""
    fv = _fine_valley(plan, v, win)
    r0, r1, c0, c1 = win
    z_fill = v.ice_floor(fv.t) + 0.8 * v.thickness(fv.t_eff)
    w_trough = np.maximum(fv.w, v.w_floor) if v.glaciated else np.float32(v.w_floor)
    rise = np.maximum(mount[r0:r1, c0:c1] - z_fill, 0.0)
    rock_v = z_fill + rise * wall_shape(np.maximum(fv.d_eff - w_trough, 0.0) / v.wall)
    np.minimum(rock[r0:r1, c0:c1], rock_v, out=rock[r0:r1, c0:c1])


def _lay_ice(
    plan: ProceduralPlan,
    i: int,
    v: Valley,
    win: tuple[int, int, int, int],
    rock: np.ndarray,
    ice_z: np.ndarray,
    owner: np.ndarray,
) -> None:
    """A glacier's ice on a window: where its surface is the highest, it owns the pixel."""
    fv = _fine_valley(plan, v, win)
    r0, r1, c0, c1 = win
    thick = v.thickness(fv.t_eff)
    floor = v.ice_floor(fv.t)
    # Where a glacier runs through low ground its ice must not stand as a cliff above the
    # rock: the ground falls away from its margin as an ice-cored moraine slope (~30 degrees,
    # steepening with distance so only the ground next to the ice is held up).
    out = np.maximum(fv.d_eff - fv.w, 0.0)
    apron = floor + 0.8 * thick - 0.6 * out - 0.004 * out * out
    np.maximum(rock[r0:r1, c0:c1], apron, out=rock[r0:r1, c0:c1])
    rel = np.clip(fv.d_eff / np.maximum(fv.w, 1.0), 0.0, 1.0)
    z_ice = floor + thick * (1 - 0.2 * rel * rel)
    sub_z, sub_o = ice_z[r0:r1, c0:c1], owner[r0:r1, c0:c1]
    take = (fv.t_eff > v.t_term) & (fv.d_eff < fv.w) & (z_ice > sub_z)
    sub_z[take] = z_ice[take]
    sub_o[take] = i + 1


def _assemble_cap(
    plan: ProceduralPlan, rock: np.ndarray, ice_z: np.ndarray, owner: np.ndarray
) -> None:
    """The ice cap: a dome on the plateau, with nunataks where the rock stands above the ice."""
    assert plan.cap is not None
    g, cap = plan.grid, plan.cap
    cx, cy = cap.centre
    reach = 1.9 * cap.radius  # lobes reach out to r = R / (1 - 0.22 * 2)
    r0, r1, c0, c1 = g.fine_window((cx - reach, cy - reach, cx + reach, cy + reach))
    if r1 <= r0 or c1 <= c0:
        return
    for a, b in strips(r1 - r0, 768):
        win = (r0 + a, r0 + b, c0, c1)
        xs, ys = g.fine_xy(*win)
        r = np.hypot(xs[None, :] - cx, ys[:, None] - cy)
        nm = g.sample_shape(plan.mid_noise2, xs, ys)
        lobes = g.sample_shape(plan.cap_lobes, xs, ys)
        # Lobes and embayments at the scale of the cap, so its margin is nothing like a circle.
        r_eff = r * (1 + 0.22 * lobes + 0.05 * nm) + 20 * plan.fine.window(win, offset=4)
        z = cap.z_plateau + cap.dome * np.sqrt(np.clip(1 - (r_eff / cap.radius) ** 2, 0.0, 1.0))
        rows = slice(win[0], win[1])
        ice = (r_eff < cap.radius) & (rock[rows, c0:c1] < z - 3)
        sub_z, sub_o = ice_z[rows, c0:c1], owner[rows, c0:c1]
        take = ice & (z > sub_z)
        sub_z[take] = z[take]
        sub_o[take] = -1


def _debris(
    plan: ProceduralPlan, glacier: np.ndarray, dem: np.ndarray, surface: np.ndarray
) -> None:
    """Debris-covered lower tongues, with lateral moraine bands reaching further up."""
    for v in plan.valleys:
        if v.debris_len <= 0 or not v.glaciated:
            continue
        for win in _valley_windows(plan, v):
            fv = _fine_valley(plan, v, win)
            r0, r1, c0, c1 = win
            own = glacier[r0:r1, c0:c1] == v.gid
            above = fv.t_eff - v.t_term
            tongue = above < v.debris_len * (1 + 0.35 * fv.noise)
            rel = fv.d_eff / np.maximum(fv.w, 1.0)
            lateral = (rel > 0.72 + 0.1 * fv.noise) & (above < 2.2 * v.debris_len)
            debris = own & (tongue | lateral)
            surface[r0:r1, c0:c1][debris] = Surface.DEBRIS
            # Debris-covered ice is hummocky: melt under uneven debris leaves mounds and hollows.
            bumps = 3.0 * plan.fine.window(win, offset=7)
            dem[r0:r1, c0:c1][debris] += bumps[debris]


def _lakes(plan: ProceduralPlan, dem: np.ndarray, surface: np.ndarray) -> None:
    """Proglacial lakes in front of snouts, then tundra lakes on low flat land."""
    g = plan.grid
    placed = 0
    for v in plan.valleys:
        if v.lake is None:
            continue
        t_c, a, b = v.lake
        # A window around the lake only (a lake cut by it is not placed).
        x, y = v.point_at(t_c)
        reach = 1.6 * max(a, b) + SHORE_M + v.w_ice
        win = g.fine_window((x - reach, y - reach, x + reach, y + reach))
        if win[1] <= win[0] or win[3] <= win[2]:
            continue
        fv = _fine_valley(plan, v, win)
        inside = ((fv.t - t_c) / a) ** 2 + (fv.d_eff / b) ** 2 < 1 + 0.3 * fv.noise
        placed += place_lake(g, dem, surface, win, inside, allow_ice_contact=True)
    place_tundra_lakes(
        plan.rng,
        g,
        dem,
        surface,
        plan.fine,
        plan.features.lakes - placed,
        force=plan.features.lakes > 0 and placed == 0,
    )


def _finish_glaciers(
    plan: ProceduralPlan, glacier: np.ndarray, surface: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Renumber the glaciers present in the scene 1..n and settle their kinds.

    A glacier whose pixels touch the sea (4-neighbours) is ``tidewater`` whatever was planned, and
    one planned to calve whose front is not in the scene is a ``valley`` glacier here.
    """
    present = np.unique(glacier[glacier > 0])
    remap = np.zeros(len(plan.kinds) + 1, dtype=np.int32)
    remap[present] = np.arange(1, len(present) + 1, dtype=np.int32)
    glacier = remap[glacier]
    sea = surface == Surface.SEA
    near_sea = np.zeros_like(sea)
    near_sea[1:, :] |= sea[:-1, :]
    near_sea[:-1, :] |= sea[1:, :]
    near_sea[:, 1:] |= sea[:, :-1]
    near_sea[:, :-1] |= sea[:, 1:]
    calving = set(np.unique(glacier[near_sea & (glacier > 0)]).tolist())
    kinds = [plan.kinds[old - 1] for old in present]
    for new, kind in enumerate(kinds, start=1):
        if new in calving and kind != "ice_cap":
            kinds[new - 1] = "tidewater"
        elif kind == "tidewater" and new not in calving:
            kinds[new - 1] = "valley"  # its front lies outside the scene
    return glacier, kinds


def _fast_ice(
    plan: ProceduralPlan, glacier: np.ndarray, kinds: list[str], surface: np.ndarray
) -> np.ndarray:
    """Fast sea ice: sea within a noisy distance of calving fronts, and in the inner fjords."""
    g, rng = plan.grid, plan.rng
    h, w = surface.shape
    fast = np.zeros((h, w), dtype=bool)
    if not (surface == Surface.SEA).any():
        return fast
    tide_ids = [i + 1 for i, k in enumerate(kinds) if k == "tidewater"]
    reach = float(rng.uniform(500, 1500))
    inner = float(rng.uniform(800, 2500))
    sx, sy = g.shape_xy()
    # Negative where sheltered, on the shape grid; the scene grid only thresholds it.
    shelter = np.full((g.ny, g.nx), 1e6, dtype=np.float32)
    if tide_ids:
        front = g.plan_from_fine(np.isin(glacier, tide_ids))
        shelter = g.sample_plan(np.minimum(distance_to(front, g.plan_cell), 1e6), sx, sy)
        shelter -= reach
    if plan.fjords:
        # Inner fjord: near the head along the fjord, and inside its banks.
        inner_score = np.where(plan.fjord_d < 3000, plan.fjord_t - inner, 1e6)
        shelter = np.minimum(shelter, inner_score.astype(np.float32))
    shelter += 300.0 * plan.mid_noise
    xs, ys = g.fine_xy(0, h, 0, w)
    for r0, r1 in strips(h):
        score = g.sample_shape(shelter, xs, ys[r0:r1])
        fast[r0:r1] = (surface[r0:r1] == Surface.SEA) & (score < 0)
    return fast


def _valley_fields(plan: ProceduralPlan, v: Valley) -> None:
    """Distance and chainage fields of a valley, on the planning grid when it resolves the valley."""
    if v.d is not None:
        return
    g = plan.grid
    v.cell = g.plan_cell if g.plan_cell <= max(g.cell, v.w_ice / 3) else g.cell
    r0, r1, c0, c1 = g.window_at(v.bbox(), v.cell)
    xs, ys = g.coords_at(v.cell, r0, r1, c0, c1)
    v.d, v.t = polyline_distance(v.xy, xs, ys, v.reach)
    # The chainage jumps across the bisector on the inside of every bend; a light blur turns
    # those jumps into ramps (the floor and the ice surface are read through it).
    v.t = box_blur(v.t, passes=2)
    v.origin = (r0, c0)


def _fine_valley(plan: ProceduralPlan, v: Valley, win: tuple[int, int, int, int]) -> FineValley:
    """A valley's distance, chainage and width on a scene window, roughened by noise.

    The same noise feeds the trough walls, the ice margin and the debris and lake edges, so they
    stay consistent with each other.
    """
    g = plan.grid
    xs, ys = g.fine_xy(*win)
    _valley_fields(plan, v)
    assert v.d is not None and v.t is not None
    d = g.sample_at(v.d, v.cell, v.origin, xs, ys)
    t = g.sample_at(v.t, v.cell, v.origin, xs, ys) - np.float32(v.mouth_chain)
    nm = g.sample_shape(plan.mid_noise, xs, ys)
    nm2 = g.sample_shape(plan.mid_noise2, xs, ys)
    nf = plan.fine.window(win, offset=1)
    scale = min(v.w_ice, 700.0)
    d_eff = d + 0.2 * scale * nm + 0.03 * scale * nf
    # A calving front is a cliff across the fjord: less ragged than a land snout, and it must not
    # retreat from the sea it calves into.
    t_eff = t + (0.08 if v.h_front > 0 else 0.3) * scale * nm2
    return FineValley(win=win, t=t, t_eff=t_eff, d_eff=d_eff, w=v.half_width(t_eff), noise=nm)
