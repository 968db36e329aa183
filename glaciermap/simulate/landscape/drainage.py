"""The drainage network of a procedural scene and the valleys along it.

Step 3 of the build (see :mod:`glaciermap.simulate.landscape`): water is routed over the smoothed mountains
(priority flood from the sea and the domain edge); where about 1 km² drains through a cell a valley
starts, and each valley is followed up its largest branch to the divide (:func:`make_network`). Each
valley gets a concave long profile kept below the terrain along it, and a width that grows with its
drainage area (:func:`stem_valley`).
"""

from __future__ import annotations

import math

import numpy as np

from glaciermap.simulate.landscape.fields import box_blur
from glaciermap.simulate.landscape.plan import ProceduralPlan
from glaciermap.simulate.landscape.polylines import chainage, resample_polyline, smooth_polyline
from glaciermap.simulate.landscape.valley import Stem, Valley


def priority_flood(guide: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Route flow over a surface: every cell drains to the neighbour it was flooded from.

    Priority-flood from the seeds (sea and domain edge) over 8 neighbours, always growing from the lowest
    flooded cell: pits fill, and every cell gets a downstream neighbour, so the result is a drainage tree.

    Args:
        guide: (ny, nx) surface, metres.
        seeds: (ny, nx) bool, where water leaves (sea, domain edge).

    Returns:
        ``(receiver, order)``: (ny*nx,) int64 flat index of each cell's downstream neighbour (-1 at seeds),
        and the flat indices in the order they were flooded (seeds first, then upstream).
    """
    import heapq

    ny, nx = guide.shape
    z = guide.ravel().astype(float).tolist()
    receiver = [-1] * (ny * nx)
    seen = bytearray(ny * nx)
    heap = []
    for i in np.flatnonzero(seeds).tolist():
        seen[i] = 1
        heap.append((z[i], i))
    heapq.heapify(heap)
    order: list[int] = []
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
    while heap:
        zi, i = heapq.heappop(heap)
        order.append(i)
        r, c = divmod(i, nx)
        for dr, dc in steps:
            rr, cc = r + dr, c + dc
            if 0 <= rr < ny and 0 <= cc < nx:
                j = rr * nx + cc
                if not seen[j]:
                    seen[j] = 1
                    receiver[j] = i
                    # Filled pits get a tiny gradient so their flow still leads to the spill point.
                    heapq.heappush(heap, (max(z[j], zi + 1e-3), j))
    return np.asarray(receiver, dtype=np.int64), np.asarray(order, dtype=np.int64)


def accumulate(receiver: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Number of cells draining through each cell (itself included), from a drainage tree."""
    count = [1] * len(receiver)
    rec = receiver.tolist()
    for i in reversed(order.tolist()):
        r = rec[i]
        if r >= 0:
            count[r] += count[i]
    return np.asarray(count, dtype=np.int64)


def make_network(plan: ProceduralPlan) -> list[Stem]:
    """The drainage network of the planning domain, as stems (see :func:`priority_flood`).

    Valleys follow the lows of the mountain surface down to the sea, so the troughs carved along them
    deepen valleys that are already there and leave ridges between them.
    """
    g, rng = plan.grid, plan.rng
    ny, nx = g.plan_shape
    n = ny * nx
    cell_km2 = (g.plan_cell / 1000.0) ** 2
    # Smoothed, and tilted towards the coast: valleys run fairly straight to the sea, and flat
    # ground (strandflat, plateau) drains seawards.
    guide = box_blur(plan.mount_plan, passes=2) + 0.03 * plan.d_sea_plan
    seeds = plan.sea_plan.copy()
    seeds[0, :] = seeds[-1, :] = True
    seeds[:, 0] = seeds[:, -1] = True
    receiver, order = priority_flood(guide, seeds)
    counts = accumulate(receiver, order)
    # A channel starts where ~1 km² drains through a cell; coarser on very large scenes.
    a_channel = max(float(rng.uniform(0.8, 1.6)), n * cell_km2 / 450.0)
    channel = (counts * cell_km2 >= a_channel) & ~seeds.ravel()
    ch = np.flatnonzero(channel)
    rec = receiver[ch]
    joins = (rec >= 0) & channel[np.maximum(rec, 0)]
    children: dict[int, list[int]] = {}
    kids, parents = ch[joins], rec[joins]
    for k in np.lexsort((kids, -counts[kids])):
        children.setdefault(int(parents[k]), []).append(int(kids[k]))
    roots = ch[~joins]
    roots = roots[np.lexsort((roots, -counts[roots]))]
    # Above a channel head the valley continues up its largest branch to the divide.
    key = counts * n + np.arange(n)
    best = np.full(n, -1, dtype=np.int64)
    has = receiver >= 0
    np.maximum.at(best, receiver[has], key[has])
    best_child = np.where(best >= 0, best % n, -1)
    max_extension = int(2500 / g.plan_cell) + 1
    stems: list[Stem] = []
    for root in roots.tolist():
        root_index = len(stems)
        stack = [(root, -1, int(receiver[root]))]
        while stack:
            start, parent, outlet = stack.pop()
            me = len(stems)
            path, cur = [start], start
            branches: list[tuple[int, int, int]] = []
            while cur in children:
                kids_here = children[cur]
                branches.extend((other, me, cur) for other in kids_here[1:])
                cur = kids_here[0]
                path.append(cur)
            for _ in range(max_extension):
                nxt = int(best_child[cur])
                if nxt < 0:
                    break
                cur = nxt
                path.append(cur)
            stems.append(
                Stem(path, parent, outlet, float(counts[start] * cell_km2), root=root_index)
            )
            if parent >= 0:
                stems[parent].children.append(me)
            stack.extend(reversed(branches))
    return stems


def stem_valley(plan: ProceduralPlan, stem: Stem, stems: list[Stem]) -> Valley | None:
    """The valley along a stem: smoothed centre line, long profile and glacier geometry."""
    g, rng = plan.grid, plan.rng
    xs, ys = g.plan_xy()
    nx = len(xs)

    def cell_xy(i: int) -> np.ndarray:
        r, c = divmod(i, nx)
        return np.array([xs[c], ys[r]])

    pts = np.array([cell_xy(i) for i in stem.cells])
    out = cell_xy(stem.outlet)
    if stem.parent < 0:
        if plan.sea_plan.ravel()[stem.outlet]:
            seaward = out - pts[0]
            seaward /= max(float(np.hypot(*seaward)), 1e-9)
            line = np.vstack([out + 300.0 * seaward, out, pts])
            mouth, z_mouth = 2, 0.0
        else:
            # The valley leaves the planning domain; its floor there sits well below the ridges.
            line = np.vstack([out, pts])
            mouth = 1
            z_mouth = max(0.0, 0.5 * g.plan_at(plan.mount_plan, float(out[0]), float(out[1])))
    else:
        parent = stems[stem.parent].valley
        if parent is None:
            return None
        line = np.vstack([out, pts])
        mouth = 0
        chain = chainage(parent.xy) - parent.mouth_chain
        near = int(np.argmin(np.hypot(*(parent.xy - out).T)))
        stem.t_join = float(chain[near])
        z_mouth = float(parent.floor(np.array([stem.t_join], dtype=np.float32))[0])
    # Grid paths bend sharply; smoothed, the nearest-point chainage has no jumps near the line.
    head_part = resample_polyline(line[mouth:], 0.5 * g.plan_cell)
    line = smooth_polyline(np.vstack([line[:mouth], head_part]), mouth + 1, passes=8)
    mouth_chain = float(chainage(line)[mouth])
    line = resample_polyline(line, max(80.0, 0.75 * g.plan_cell))
    length = float(chainage(line)[-1]) - mouth_chain
    if length < 500:
        return None
    head = line[-1]
    ridge = g.plan_at(plan.mount_plan, float(head[0]), float(head[1]))
    z_head = max(ridge - float(rng.uniform(60, 170)), z_mouth + 0.03 * length)
    area = max(stem.area_km2, 0.2)
    # The floor rises monotonically and must stay below the terrain all along the valley, so at each
    # point it stays below the lowest ground further up.
    chain = chainage(line) - mouth_chain
    ground = g.plan_points(plan.mount_plan, line[:, 0], line[:, 1])
    ground = np.minimum.accumulate((ground - 25.0)[::-1])[::-1]
    keep = chain >= 0
    cap_floor = (chain[keep], np.maximum(ground[keep], z_mouth))
    return Valley(
        cap_floor=cap_floor,
        basin=(plan.ela, float(rng.uniform(0.3, 0.9))),
        xy=line,
        mouth_chain=mouth_chain,
        length=length,
        w_ice=float(np.clip(115 * area**0.45, 100, 1400) * rng.uniform(0.85, 1.15)),
        w_floor=float(np.clip(15 * math.sqrt(area) + 20, 25, 350)),
        wall=float(np.clip(220 + 50 * math.sqrt(area), 220, 900) * rng.uniform(0.8, 1.2)),
        z_mouth=z_mouth,
        z_head=z_head,
        concavity=float(rng.uniform(1.1, 1.6)),
        h_ice=float(np.clip(40 + 25 * math.sqrt(area), 40, 250) * rng.uniform(0.8, 1.2)),
        widen=float(rng.uniform(-0.1, 0.4)),
        wave=(
            float(rng.uniform(0.04, 0.12)),
            float(rng.uniform(600, 2000)),
            float(rng.uniform(0, 2 * math.pi)),
        ),
    )
