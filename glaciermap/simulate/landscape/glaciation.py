"""Which valleys hold glaciers, how far their ice reaches, and the cirque glaciers between them.

Step 4 of the build (see :mod:`glaciermap.simulate.landscape`): every drainage tree gets one terminus
elevation below the ELA; ice starts at the heads that stand above the ELA and flows down the network,
tributaries merging, until the floor falls to that elevation, or into the sea. The requested counts are
then honoured by choosing which coastal trees calve (fjord heads first) and by giving other valleys a
terminus on land (forcing a glaciated head, with its mountains raised, only when no natural one is
available). Small cirque glaciers go on high mountain sides away from the valley glaciers.
"""

from __future__ import annotations

import math

import numpy as np

from glaciermap.simulate.landscape.drainage import make_network, stem_valley
from glaciermap.simulate.landscape.fields import smoothstep
from glaciermap.simulate.landscape.plan import ProceduralPlan
from glaciermap.simulate.landscape.polylines import polyline_distance
from glaciermap.simulate.landscape.valley import Stem, Valley


def make_valleys(plan: ProceduralPlan) -> None:
    """Valleys along the drainage network; glaciers in those whose heads stand above the ELA.

    Every drainage tree gets one terminus elevation below the ELA: ice flows from glaciated heads down
    the network (tributaries merging) until the floor drops to that elevation, or into the sea. Then
    the counts asked for are honoured: the chosen number of coastal trees calve (fjord heads first),
    and a tree is forced to carry a land-terminating glacier when none formed.
    """
    g, rng, feats = plan.grid, plan.rng, plan.features
    stems = make_network(plan)
    for stem in stems:
        stem.valley = stem_valley(plan, stem, stems)
        valley = stem.valley
        if valley is not None:
            valley.reach = valley.w_ice * 1.7 + 2.6 * valley.wall + 150
            stem.head_ice = valley.z_head + valley.h_ice > plan.ela + 60
    sea_flat = plan.sea_plan.ravel()
    roots = [s for s in stems if s.parent < 0 and s.valley is not None]
    z_term = {s.root: plan.ela - float(rng.uniform(220, 480)) for s in roots}

    def mouth_in_scene(s: Stem, margin: float) -> bool:
        assert s.valley is not None
        return g.inside_scene(*s.valley.point_at(0.0), margin)

    def fjord_distance(s: Stem) -> float:
        assert s.valley is not None
        x, y = s.valley.point_at(0.0)
        return min((math.hypot(x - f.xy[0, 0], y - f.xy[0, 1]) for f in plan.fjords), default=1e9)

    # Trees with glaciated heads can calve by lowering their terminus alone; others need their
    # head forced (and their mountains raised), which looks less natural, so they come last.
    iced = {s.root for s in stems if s.valley is not None and s.head_ice}
    coastal = [s for s in roots if sea_flat[s.outlet] and mouth_in_scene(s, 300)]
    coastal.sort(key=lambda s: (s.root not in iced, fjord_distance(s) > 1500, -s.area_km2))
    tidewater = coastal[: feats.tidewater_glaciers]
    for s in roots:
        if sea_flat[s.outlet]:
            # Only the chosen trees calve; the others end on land near the coast.
            z_term[s.root] = max(z_term[s.root], float(rng.uniform(15, 60)))
    for s in tidewater:
        z_term[s.root] = -1.0
        if s.root not in iced:
            _force_head_ice(plan, s)
    _glaciate(plan, stems, z_term)
    for s in tidewater:
        if not s.reaches_mouth:  # the tree's ice stops short of the sea: force its main stem
            _force_head_ice(plan, s)
            _glaciate(plan, stems, z_term, {s.root})
    # Land-terminating valley glaciers: valleys without one get a terminus above the sea (a
    # tributary then ends short of its trunk, as retreating tributaries do), and a forced head if
    # need be, until there are enough. Forcing is capped: raised mountains show. A valley whose
    # mouth lies outside the scene qualifies when it enters the scene: its snout goes just inside.
    tide_roots = {s.root for s in tidewater}
    spare = [
        (i, t)
        for i, s in enumerate(stems)
        if s.valley is not None
        and s.root not in tide_roots
        and (t := _first_inside(plan, s)) is not None
    ]
    spare.sort(key=lambda it: (stems[it[0]].root not in iced, it[1] > 0, -stems[it[0]].area_km2))
    forced = 0
    for i, t_in in spare:
        have = _land_glaciers(plan, stems)
        if len(have) >= feats.valley_glaciers or forced >= 3:
            break
        s = stems[i]
        if any(stems[j].root == s.root for j in have):
            continue
        assert s.valley is not None
        snout = t_in + 150.0 if t_in > 0 else float(rng.uniform(350, 700))
        z_stop = max(float(s.valley.floor(np.array([snout]))[0]), 15.0)
        if s.parent < 0:
            z_term[s.root] = max(z_term[s.root], z_stop)
        else:
            s.z_stop = z_stop
        _glaciate(plan, stems, z_term, {s.root})
        if i not in _land_glaciers(plan, stems):
            _force_head_ice(plan, s)
            _glaciate(plan, stems, z_term, {s.root})
            forced += 1
    # Glacier ids: merging tributaries mostly join their trunk's glacier; some stay separate
    # flow units that meet it along an ice divide, as in inventories.
    for s in stems:
        v = s.valley
        if v is None or not v.glaciated:
            continue
        parent = stems[s.parent].valley if s.parent >= 0 else None
        if s.merges and parent is not None and parent.glaciated and rng.random() < 0.75:
            v.gid, v.kind = parent.gid, parent.kind
        else:
            v.gid = plan.new_glacier(v.kind)
    land = [v for i in _land_glaciers(plan, stems) if (v := stems[i].valley) is not None]
    land.sort(key=lambda v: -v.w_ice * v.length)
    for v in land[: feats.debris_tongues]:
        v.debris_len = float(rng.uniform(0.15, 0.3) * (min(v.length, v.t_top) - v.t_term))
    lakes_wanted = feats.lakes
    for v in land:
        if lakes_wanted > 0 and _plan_lake(plan, v):
            lakes_wanted -= 1
    plan.valleys = [v for s in stems if (v := s.valley) is not None]
    plan.stems = stems


def _force_head_ice(plan: ProceduralPlan, stem: Stem) -> None:
    """Make a stem's head glaciated, raising its mountains if they are too low for that."""
    v = stem.valley
    assert v is not None
    v.cap_floor = None  # its mountains are raised below instead
    if not stem.head_ice:
        v.z_head = plan.ela + float(plan.rng.uniform(110, 220)) - v.h_ice
        stem.head_ice = True
    ridge = plan.grid.plan_at(plan.mount_plan, float(v.xy[-1, 0]), float(v.xy[-1, 1]))
    if v.z_head + 160 > ridge:
        x, y = float(v.xy[-1, 0]), float(v.xy[-1, 1])
        plan.head_raises.append((x, y, v.z_head + 200 - ridge, 0.35 * v.length + 600))


def _glaciate(
    plan: ProceduralPlan, stems: list[Stem], z_term: dict[int, float], trees: set[int] | None = None
) -> None:
    """Ice extents along the network, tributaries before their trunks (see :func:`make_valleys`).

    Args:
        stems: the network, parents before children.
        z_term: terminus elevation of each drainage tree (by root stem index), metres.
        trees: only redo these trees (root stem indices); default all.
    """
    rng = plan.rng
    for s in reversed(stems):
        v = s.valley
        if v is None or (trees is not None and s.root not in trees):
            continue
        v.glaciated, v.snout, v.h_front = False, True, 0.0
        v.t_top, v.kind = math.inf, "trough"
        s.reaches_mouth = s.merges = False
        feeders = [
            stems[c].t_join
            for c in s.children
            if stems[c].valley is not None and stems[c].reaches_mouth
        ]
        if not s.head_ice and not feeders:
            continue
        top = v.length if s.head_ice else max(feeders)
        t_star = v.chainage_at(max(z_term[s.root], s.z_stop))
        if t_star >= top - 150:
            if not s.head_ice:
                continue  # the inflowing ice ends at the junction
            t_star = min(t_star, 0.75 * top)  # a short glacier under the headwall
        v.glaciated = True
        if not s.head_ice:
            v.t_top = top + 0.5 * v.w_ice
        s.reaches_mouth = t_star < 0
        v.kind = "valley"
        if plan.cap is not None:
            cx, cy = plan.cap.centre
            if math.hypot(v.xy[-1, 0] - cx, v.xy[-1, 1] - cy) < plan.cap.radius:
                v.kind = "outlet"
        if not s.reaches_mouth:
            v.t_term = max(t_star, 0.0)
        elif s.parent >= 0:
            s.merges = True
            v.t_term, v.snout = -min(0.3 * v.length, 1500.0) - 1.0, False
        elif plan.sea_plan.ravel()[s.outlet]:
            v.kind = "tidewater"
            # Well past the coast: the ragged front must stay in the sea all along.
            v.t_term = -float(rng.uniform(150, 280))
            v.h_front = float(rng.uniform(25, 55))
            v.snout = False
        else:
            v.t_term, v.snout = -300.0, False  # continues beyond the planning domain


def _first_inside(plan: ProceduralPlan, stem: Stem) -> float | None:
    """The first chainage (lower half of the valley) whose centre point is well inside the scene."""
    v = stem.valley
    assert v is not None
    for t in np.linspace(0.0, 0.5 * v.length, 26):
        if plan.grid.inside_scene(*v.point_at(float(t)), 400.0):
            return float(t)
    return None


def _land_glaciers(plan: ProceduralPlan, stems: list[Stem]) -> list[int]:
    """Indices of the stems carrying a land-terminating valley glacier whose snout is in the scene."""
    out = []
    for i, s in enumerate(stems):
        v = s.valley
        if v is None or not v.glaciated or s.reaches_mouth or v.kind == "outlet":
            continue
        if v.t_term > 0 and plan.grid.inside_scene(*v.point_at(v.t_term), 250.0):
            out.append(i)
    return out


def _plan_lake(plan: ProceduralPlan, v: Valley) -> bool:
    """A proglacial lake between a land-terminating glacier's snout and the coast, if there is room."""
    rng = plan.rng
    room = v.t_term - 150.0
    if room < 160:
        return False
    a = float(min(rng.uniform(90, 320), room / 2 - 20))
    if a < 60:
        return False
    t_c = v.t_term - float(rng.uniform(0, 40)) - a
    b = float(min(v.w_floor * 0.95 + 40, rng.uniform(80, 240)))
    v.lake = (t_c, a, b)
    return True


def raise_heads(plan: ProceduralPlan) -> None:
    """Raise the mountains around forced glacier heads so the ice sits below its headwalls.

    The relief is stretched (not a dome added), so the raised massif keeps its ridges and cols.
    """
    if not plan.head_raises:
        return
    g = plan.grid
    xs, ys = g.shape_xy()
    for x, y, amount, sigma in plan.head_raises:
        relief = g.plan_at(plan.mount_plan, x, y) - 12.0
        if amount <= 0 or relief <= 0:
            continue
        stretch = min(amount / relief, 1.5)
        bump = np.exp(-((xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2) / (2 * sigma**2))
        # Only inland of the coast: the raise must not lift the strandflat into the sea.
        bump *= smoothstep(plan.d_sea_shape / 1500.0)
        plan.mount += (stretch * bump * np.maximum(plan.mount - 12.0, 0.0)).astype(np.float32)
    plan.refresh_plan_elevation()


def _ice_clearance(plan: ProceduralPlan) -> np.ndarray:
    """Planning-grid distance from the nearest glacier's edge (its centre line minus its width)."""
    g = plan.grid
    xs, ys = g.plan_xy()
    clearance = np.full(g.plan_shape, 1e7, dtype=np.float32)
    for v in plan.valleys:
        if not v.glaciated or g.fine_window(v.bbox())[1] == g.fine_window(v.bbox())[0]:
            continue
        d, _ = polyline_distance(v.xy, xs, ys, v.w_ice * 1.3 + 2000)
        np.minimum(clearance, d - v.w_ice * 1.2, out=clearance)
    if plan.cap is not None:
        cx, cy = plan.cap.centre
        r = np.hypot(xs[None, :] - cx, ys[:, None] - cy) - plan.cap.radius
        np.minimum(clearance, r.astype(np.float32), out=clearance)
    return clearance


def make_cirques(plan: ProceduralPlan) -> None:
    """Small cirque glaciers (0.02–0.3 km²) in hollows on high mountain sides away from the glaciers."""
    g, rng = plan.grid, plan.rng
    target = plan.features.small_glaciers
    clearance = _ice_clearance(plan)
    xs, ys = g.plan_xy()
    minx, miny, maxx, maxy = g.scene
    placed = 0
    for attempt in range(150 * max(target, 1)):
        if placed >= target:
            break
        relax = attempt > 100 * target
        margin = 250.0
        x = float(rng.uniform(minx + margin, maxx - margin))
        y = float(rng.uniform(miny + margin, maxy - margin))
        area = float(rng.uniform(0.04, 0.2)) * 1e6
        aspect = float(rng.uniform(0.9, 2.0))
        w = math.sqrt(area / (2 * aspect + math.pi / 2))
        length = aspect * w
        if g.plan_at(plan.d_sea_plan, x, y) < 500:
            continue
        ridge = g.plan_at(plan.mount_plan, x, y)
        if ridge < (plan.ela - 60 if not relax else 150):
            continue
        if g.plan_at(clearance, x, y) < length + w + 150:
            continue
        gx, gy = g.plan_at(plan.grad_mount[0], x, y), g.plan_at(plan.grad_mount[1], x, y)
        if math.hypot(gx, gy) < 0.05:
            continue
        up = math.atan2(gy, gx) + float(rng.uniform(-0.3, 0.3))
        head = (x + length * math.cos(up), y + length * math.sin(up))
        if g.plan_at(clearance, *head) < w + 150:
            continue
        xy = np.array([[x, y], [(x + head[0]) / 2, (y + head[1]) / 2], list(head)])
        z_lip = ridge - float(rng.uniform(30, 90))
        valley = Valley(
            xy=xy,
            mouth_chain=0.0,
            length=length,
            w_ice=w,
            w_floor=0.4 * w,
            wall=float(rng.uniform(150, 260)),
            z_mouth=z_lip,
            z_head=z_lip + length * float(rng.uniform(0.25, 0.45)),
            concavity=1.3,
            kind="small",
            glaciated=True,
            t_term=0.0,
            h_ice=float(rng.uniform(25, 45)),
            widen=float(rng.uniform(0.0, 0.3)),
            wave=(0.05, 400.0, float(rng.uniform(0, 6))),
        )
        valley.gid = plan.new_glacier("small")
        valley.reach = valley.w_ice * 1.7 + 2.6 * valley.wall + 150
        plan.valleys.append(valley)
        d, _ = polyline_distance(xy, xs, ys, w + 2000)
        np.minimum(clearance, d - 1.2 * w, out=clearance)
        placed += 1
