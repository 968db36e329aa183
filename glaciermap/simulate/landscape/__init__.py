"""The simulated ground truth: terrain, surface classes and glacier outlines on the region's 10 m grid.

The :class:`Landscape` dataclass is the contract between the landscape generator, the radar physics
(:mod:`glaciermap.simulate.physics`) and the acquisition geometry. This module makes landscapes two ways:

- :func:`procedural_landscape` invents a Svalbard-like scene for any rectangle: a coast with fjords,
  mountains from spectral (FFT) fractal noise, a dendritic valley network carved into them, valley glaciers
  filling the valleys whose heads stand above the ELA (tidewater glaciers calving into fjord heads,
  land-terminating ones with outwash plains, proglacial lakes and debris-covered tongues; tributaries
  merging or meeting along ice divides), cirque glaciers, perennial snow patches, tundra lakes, fast sea
  ice near calving fronts and in inner fjords and, on large scenes, a plateau ice cap with outlets. How many
  of each is set by :class:`LandscapeFeatures` (by default scaled with the area).
- :func:`landscape_from_outlines` puts the glaciers of a real inventory on the grid and invents terrain
  consistent with them (glaciers in valleys, sloping down to their fronts, valleys running on to the sea).

:func:`write_truth` writes a landscape's ground truth (outlines, DEM, land/sea mask, surface classes).

How a procedural scene is built (every random draw comes from the caller's generator in a fixed order, so
a seed always gives the same scene):

1. Three aligned grids share one origin: the scene grid (``pixel_size``), a *shape* grid 4x coarser that
   also covers a padding ring around the scene (valleys and glaciers may start outside the scene and reach
   into it), and a *planning* grid of at most ~300 cells a side for distance transforms and flow routing.
2. The sea is a noisy coastline across one side plus meandering fjords reaching inland. Mountains rise with
   the distance from the sea (a strandflat first), shaped by fractal and ridged noise.
3. Water is routed over the smoothed mountains (priority flood from the sea and the domain edge); where
   about 1 km² drains through a cell a valley starts, and each valley is followed up its largest branch to
   the divide. Each valley gets a concave long profile kept below the terrain along it, and a width that
   grows with its drainage area.
4. Glaciers: every drainage tree gets one terminus elevation below the ELA; ice starts at the heads that
   stand above the ELA and flows down the network, tributaries merging, until the floor falls to that
   elevation, or into the sea. The requested counts are then honoured by choosing which coastal trees calve
   (fjord heads first) and by giving other valleys a terminus on land (forcing a glaciated head, with its
   mountains raised, only when no natural one is available).
5. On the scene grid, each valley carves a U-shaped trough whose walls rise to the mountains from the level
   its ice fills; the ice surface is smooth, concave along the valley and gently convex across it, so it is
   gentler than the rock walls and meets them without cliffs. Margins are made irregular by noise at
   several scales. Where two ice bodies overlap the higher surface wins, which is where ice divides fall.
   Cirque glaciers, the ice cap, debris, lakes, snow patches and fast ice follow.
6. Outlines are vectorised from the final glacier-id raster, so they match the pixels exactly.

Modules: :mod:`.model` (the types above), :mod:`.truth` (outlines from ids, truth files), :mod:`.grid`
(the three grids, interpolation), :mod:`.noise`, :mod:`.fields` and :mod:`.polylines` (numpy helpers),
:mod:`.terrain` (mountains, snow patches, lakes: shared by both builders), :mod:`.names`; the procedural
builder :mod:`.procedural` over a :mod:`.plan`, phase by phase: :mod:`.relief` (step 2), :mod:`.drainage`
and :mod:`.valley` (3), :mod:`.glaciation` (4), :mod:`.render` (5, 6); and :mod:`.from_outlines`.
"""

from glaciermap.simulate.landscape.from_outlines import landscape_from_outlines
from glaciermap.simulate.landscape.model import (
    KINDS,
    LANDSEA_LAKE,
    LANDSEA_LAND,
    LANDSEA_SEA,
    SNOW_PATCH_MAX_KM2,
    Landscape,
    LandscapeFeatures,
    Surface,
)
from glaciermap.simulate.landscape.procedural import procedural_landscape
from glaciermap.simulate.landscape.truth import landsea_mask, write_truth

__all__ = [
    "KINDS",
    "LANDSEA_LAKE",
    "LANDSEA_LAND",
    "LANDSEA_SEA",
    "SNOW_PATCH_MAX_KM2",
    "Landscape",
    "LandscapeFeatures",
    "Surface",
    "landscape_from_outlines",
    "landsea_mask",
    "procedural_landscape",
    "write_truth",
]
