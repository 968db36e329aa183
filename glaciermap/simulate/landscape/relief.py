"""The large-scale relief of a procedural scene: coast and fjords, distance from the sea, ice-cap plateau.

Step 2 of the build (see :mod:`glaciermap.simulate.landscape`): the sea is a noisy coastline across one
side plus meandering fjords reaching inland; the mountains (:func:`.terrain.mountains`) then rise with the
distance from the sea; on large scenes a plateau far from the sea is flattened for an ice cap.
"""

from __future__ import annotations

import math

import numpy as np

from glaciermap.simulate.landscape.fields import connected_to_edge, distance_to, smoothstep
from glaciermap.simulate.landscape.noise import fractal_noise
from glaciermap.simulate.landscape.plan import Fjord, IceCap, ProceduralPlan
from glaciermap.simulate.landscape.polylines import polyline_distance, wrap_angle


def make_sea(plan: ProceduralPlan) -> None:
    """Coast across one side plus fjords; P < 0 is sea (or lowland when the scene has no sea)."""
    g, rng = plan.grid, plan.rng
    xs, ys = g.shape_xy()
    theta = float(rng.uniform(0, 2 * math.pi))
    plan.inland = (math.cos(theta), math.sin(theta))
    minx, miny, maxx, maxy = g.scene
    corners = [(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)]
    proj = [cx * plan.inland[0] + cy * plan.inland[1] for cx, cy in corners]
    plan.s_ref = min(proj)
    plan.s_max = max(proj) - plan.s_ref
    s = (xs[None, :] * plan.inland[0] + ys[:, None] * plan.inland[1] - plan.s_ref).astype(
        np.float32
    )
    scale = min(max(plan.s_max / 6000, 1.0), 4.0)
    plan.c0 = float(rng.uniform(0.05, 0.12) * plan.s_max) if plan.features.sea else 0.0
    coast_noise = fractal_noise(
        (g.ny, g.nx), rng, cell_m=g.cell, beta=2.1, min_wavelength_m=100, max_wavelength_m=3000
    )
    p = s - plan.c0
    plan.fjord_d = np.full((g.ny, g.nx), 1e7, dtype=np.float32)
    plan.fjord_t = np.zeros((g.ny, g.nx), dtype=np.float32)
    n_fjords = plan.features.fjords if plan.features.sea else 0
    perp = (-plan.inland[1], plan.inland[0])
    centre = ((minx + maxx) / 2, (miny + maxy) / 2)
    corner_v = [(cx - centre[0]) * perp[0] + (cy - centre[1]) * perp[1] for cx, cy in corners]
    v_span = (min(corner_v), max(corner_v))
    slots = rng.permutation(max(n_fjords, 1))
    for i in range(n_fjords):
        fjord = _trace_fjord(plan, int(slots[i]), n_fjords, centre, perp, v_span, scale)
        if fjord is None:
            continue
        plan.fjords.append(fjord)
        # Distances on the planning grid (cheap for long fjords), read onto the shape grid.
        px, py = g.plan_xy()
        d, t = polyline_distance(fjord.xy, px, py, 3000.0 * scale)
        d, t = g.sample_plan(d, xs, ys), g.sample_plan(t, xs, ys)
        # The fjord widens from its head towards the open sea.
        width = np.minimum(fjord.w_head + fjord.widen * t, 2500.0 * scale)
        p = np.minimum(p, d - width)
        closer = d < plan.fjord_d
        plan.fjord_d[closer] = d[closer]
        plan.fjord_t[closer] = t[closer]
    plan.coast_amp = float(rng.uniform(60, 150))
    plan.p_field = (p + plan.coast_amp * coast_noise).astype(np.float32)


def _trace_fjord(
    plan: ProceduralPlan,
    slot: int,
    n: int,
    centre: tuple[float, float],
    perp: tuple[float, float],
    v_span: tuple[float, float],
    scale: float,
) -> Fjord | None:
    """A fjord: a head inside the scene, and a meandering centre line out to the open sea."""
    g, rng = plan.grid, plan.rng
    margin = max(900.0, 0.12 * min(g.width, g.height) * g.ps)
    for _ in range(20):
        frac = (slot + rng.uniform(0.2, 0.8)) / n
        v = v_span[0] + (v_span[1] - v_span[0]) * (0.15 + 0.7 * frac)
        s_head = plan.c0 + rng.uniform(0.22, 0.42 if n == 1 else 0.55) * (plan.s_max - plan.c0)
        # The point at inland coordinate s_head on the transverse line v.
        base_s = centre[0] * plan.inland[0] + centre[1] * plan.inland[1] - plan.s_ref
        hx = centre[0] + perp[0] * v + plan.inland[0] * (s_head - base_s)
        hy = centre[1] + perp[1] * v + plan.inland[1] * (s_head - base_s)
        if g.inside_scene(hx, hy, margin):
            break
    else:
        return None
    heading = math.atan2(-plan.inland[1], -plan.inland[0]) + rng.uniform(-0.35, 0.35)
    amp, wavelength, phase = rng.uniform(0.2, 0.6), rng.uniform(2500, 9000), rng.uniform(0, 6)
    step = 100.0
    pts = [(hx, hy)]
    x, y = hx, hy
    travelled = 0.0
    while True:
        wobble = amp * math.sin(2 * math.pi * travelled / wavelength + phase)
        # Pull back towards the open sea so meanders never turn the fjord inland.
        target = math.atan2(-plan.inland[1], -plan.inland[0])
        heading += 0.08 * wrap_angle(target - heading)
        x += step * math.cos(heading + wobble)
        y += step * math.sin(heading + wobble)
        pts.append((x, y))
        travelled += step
        s = x * plan.inland[0] + y * plan.inland[1] - plan.s_ref
        if s < -g.pad_m - 1000 or not g.inside_domain(x, y, -2000):
            break
    xy = np.asarray(pts)
    w_head = float(rng.uniform(220, 420) * math.sqrt(scale))
    widen = float(rng.uniform(0.03, 0.08))
    return Fjord(xy=xy, w_head=w_head, widen=widen)


def plan_fields(plan: ProceduralPlan) -> None:
    """Sea and distance from the sea on the planning grid (and the distance on the shape grid)."""
    g = plan.grid
    sea_shape = plan.p_field < 0
    plan.sea_plan = g.plan_from_shape(sea_shape.astype(np.float32)) > 0.5
    # Coast noise leaves specks of "sea" inland; only water connected to the open sea is sea.
    connected = connected_to_edge(plan.sea_plan)
    stray = np.repeat(np.repeat(plan.sea_plan & ~connected, g.kp, 0), g.kp, 1)
    plan.p_field = np.where(stray, np.abs(plan.p_field) + 30.0, plan.p_field)
    plan.sea_plan &= connected
    if plan.features.sea:
        d = distance_to(plan.sea_plan, g.plan_cell)
    else:
        # No sea: distance from the lowland side stands in for distance from the coast.
        xs, ys = g.plan_xy()
        s = xs[None, :] * plan.inland[0] + ys[:, None] * plan.inland[1] - plan.s_ref
        d = np.maximum(s, 0.0).astype(np.float32)
        plan.sea_plan = np.zeros_like(plan.sea_plan)
    plan.d_sea_plan = d
    xs, ys = g.shape_xy()
    plan.d_sea_shape = g.sample_plan(d, xs, ys)


def make_ice_cap(plan: ProceduralPlan) -> None:
    """An ice cap on a plateau far from the sea; the valleys draining the plateau become outlets."""
    g, rng = plan.grid, plan.rng
    xs, ys = g.plan_xy()
    inside = np.zeros(g.plan_shape, dtype=bool)
    margin = 0.15 * min(g.width, g.height) * g.ps
    minx, miny, maxx, maxy = g.scene
    rows = (ys > miny + margin) & (ys < maxy - margin)
    cols = (xs > minx + margin) & (xs < maxx - margin)
    inside[np.ix_(rows, cols)] = True
    weight = np.where(inside & (plan.d_sea_plan > 4000), plan.d_sea_plan, 0.0) ** 2
    if weight.sum() <= 0:
        return
    flat = rng.choice(weight.size, p=(weight / weight.sum()).ravel())
    r, c = divmod(int(flat), weight.shape[1])
    cx, cy = float(xs[c]), float(ys[r])
    side = min(g.width, g.height) * g.ps
    radius = min(0.55 * float(plan.d_sea_plan[r, c]), rng.uniform(0.12, 0.2) * side)
    if radius < 2000:
        return
    z_plateau = max(plan.ela + rng.uniform(150, 300), rng.uniform(600, 800))
    dome = float(rng.uniform(80, 180) * math.sqrt(radius / 5000))
    plan.cap = IceCap((cx, cy), radius, float(z_plateau), dome, plan.new_glacier("ice_cap"))
    # Flatten the mountains into a plateau with low peaks (nunataks near the cap margin).
    sx, sy = g.shape_xy()
    # The plateau has the cap's lobed outline (see render._assemble_cap), so the ice ends on its edges.
    dist = np.hypot(sx[None, :] - cx, sy[:, None] - cy) * (1 + 0.22 * plan.cap_lobes)
    blend = smoothstep((1.4 * radius - dist) / (0.5 * radius))
    plateau = z_plateau - 70 + 45 * np.clip(plan.mid_noise, -1.5, 3.0)
    plan.mount = (plan.mount * (1 - blend) + plateau * blend).astype(np.float32)
    plan.refresh_plan_elevation()
