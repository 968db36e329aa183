"""A GDAL VRT that joins the tile files of a stack into one seamless raster.

Written by hand (no ``gdalbuildvrt`` needed): one ``VRTRasterBand`` per stack band, one ``SimpleSource``
per tile file, paths relative to the VRT so the stack folder can be moved. Pixels no tile covers read as
NaN.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from glaciermap.io.files import atomic_output


@dataclass(frozen=True)
class VrtSource:
    """One tile file: its path relative to the VRT and its bounds in the stack's CRS."""

    relative_path: str
    bounds: tuple[float, float, float, float]


def stack_vrt_xml(
    sources: Sequence[VrtSource],
    descriptions: Sequence[str],
    *,
    pixel_size: float,
    crs_wkt: str,
    block_size: int = 256,
) -> str:
    """The VRT XML text for tiles of ``len(descriptions)`` float32 bands each.

    Args:
        sources: the tile files (all on the same pixel grid, edges on multiples of ``pixel_size``).
        descriptions: band descriptions, in band order.
        pixel_size: metres.
        crs_wkt: the CRS as WKT.
        block_size: internal block size of the tile files (a hint to GDAL's cache).
    """
    if not sources:
        raise ValueError("a stack VRT needs at least one tile")
    minx = min(s.bounds[0] for s in sources)
    miny = min(s.bounds[1] for s in sources)
    maxx = max(s.bounds[2] for s in sources)
    maxy = max(s.bounds[3] for s in sources)
    width = round((maxx - minx) / pixel_size)
    height = round((maxy - miny) / pixel_size)

    placed = []
    for source in sources:
        sminx, sminy, smaxx, smaxy = source.bounds
        xoff = round((sminx - minx) / pixel_size)
        yoff = round((maxy - smaxy) / pixel_size)
        xsize = round((smaxx - sminx) / pixel_size)
        ysize = round((smaxy - sminy) / pixel_size)
        placed.append((source.relative_path, xoff, yoff, xsize, ysize))

    lines = [
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
        f'  <SRS dataAxisToSRSAxisMapping="1,2">{escape(crs_wkt)}</SRS>',
        f"  <GeoTransform>{minx!r}, {pixel_size!r}, 0.0, {maxy!r}, 0.0, {-pixel_size!r}</GeoTransform>",
    ]
    for band, description in enumerate(descriptions, start=1):
        lines.append(f'  <VRTRasterBand dataType="Float32" band="{band}">')
        lines.append(f"    <Description>{escape(description)}</Description>")
        lines.append("    <NoDataValue>nan</NoDataValue>")
        for path, xoff, yoff, xsize, ysize in placed:
            block = min(block_size, xsize), min(block_size, ysize)
            lines += [
                "    <SimpleSource>",
                f'      <SourceFilename relativeToVRT="1">{escape(path)}</SourceFilename>',
                f"      <SourceBand>{band}</SourceBand>",
                f'      <SourceProperties RasterXSize="{xsize}" RasterYSize="{ysize}" '
                f'DataType="Float32" BlockXSize="{block[0]}" BlockYSize="{block[1]}" />',
                f'      <SrcRect xOff="0" yOff="0" xSize="{xsize}" ySize="{ysize}" />',
                f'      <DstRect xOff="{xoff}" yOff="{yoff}" xSize="{xsize}" ySize="{ysize}" />',
                "    </SimpleSource>",
            ]
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"


def write_stack_vrt(
    path: str | os.PathLike[str],
    sources: Sequence[VrtSource],
    descriptions: Sequence[str],
    *,
    pixel_size: float,
    crs_wkt: str,
    block_size: int = 256,
) -> Path:
    """Write :func:`stack_vrt_xml` to ``path`` (atomically) and return it."""
    text = stack_vrt_xml(
        sources, descriptions, pixel_size=pixel_size, crs_wkt=crs_wkt, block_size=block_size
    )
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
