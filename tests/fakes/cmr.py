"""A fake of CMR's granule search as asf_search queries it (POST /search/granules.umm_json).

Items are UMM-G records shaped like ASF's Sentinel-1 SLC granules (the fields asf_search reads);
the search honours the collection short names, the BEAM_MODE and ASCENDING_DESCENDING attributes, the
bounding box or polygon, the temporal range and CMR's search-after paging.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import shapely

from glaciermap.io.asf import Scene

from .server import FakeServer, Request, Response

GRANULE_PATH = "/search/granules.umm_json"


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def umm_item(scene: Scene) -> dict[str, Any]:
    """A CMR search item ``{meta, umm}`` for an IW SLC scene."""
    ring = shapely.geometry.polygon.orient(scene.footprint, 1.0).exterior.coords
    centre = scene.footprint.centroid
    mission = f"Sentinel-1{scene.platform}"
    attributes = {
        "ASCENDING_DESCENDING": scene.direction.upper(),
        "ASF_PLATFORM": mission,
        "BEAM_MODE": "IW",
        "BEAM_MODE_TYPE": "IW",
        "BYTES": str(scene.bytes or 4_000_000_000),
        "CENTER_ESA_FRAME": str(scene.frame),
        "CENTER_LAT": f"{centre.y:.4f}",
        "CENTER_LON": f"{centre.x:.4f}",
        "FRAME_NUMBER": str(scene.frame),
        "GRANULE_TYPE": f"SENTINEL_1{scene.platform}_FRAME",
        "GROUP_ID": f"S1{scene.platform}_IWDV_{scene.absolute_orbit:06d}_{scene.relative_orbit:03d}",
        "LOOK_DIRECTION": "R",
        "MD5SUM": hashlib.md5(scene.name.encode()).hexdigest(),
        "PATH_NUMBER": str(scene.relative_orbit),
        "POLARIZATION": scene.polarisation,
        "PROCESSING_TYPE": "SLC",
        "PROCESSING_LEVEL": "L1",
    }
    url = f"https://datapool.asf.alaska.edu/SLC/S{scene.platform}/{scene.name}.zip"
    return {
        "meta": {
            "concept-type": "granule",
            "concept-id": f"G{abs(hash(scene.name)) % 10**10}-ASF",
            "native-id": f"{scene.name}-SLC",
            "provider-id": "ASF",
        },
        "umm": {
            "TemporalExtent": {
                "RangeDateTime": {
                    "BeginningDateTime": _iso(scene.start),
                    "EndingDateTime": _iso(scene.stop),
                }
            },
            "OrbitCalculatedSpatialDomains": [{"OrbitNumber": scene.absolute_orbit}],
            "GranuleUR": f"{scene.name}-SLC",
            "AdditionalAttributes": [{"Name": k, "Values": [v]} for k, v in attributes.items()],
            "SpatialExtent": {
                "HorizontalSpatialDomain": {
                    "Geometry": {
                        "GPolygons": [
                            {
                                "Boundary": {
                                    "Points": [
                                        {"Longitude": round(x, 6), "Latitude": round(y, 6)}
                                        for x, y in ring
                                    ]
                                }
                            }
                        ]
                    }
                }
            },
            "CollectionReference": {"ShortName": f"SENTINEL-1{scene.platform}_SLC", "Version": "1"},
            "RelatedUrls": [{"Type": "GET DATA", "URL": url}],
            "DataGranule": {
                "Identifiers": [{"Identifier": scene.name, "IdentifierType": "ProducerGranuleId"}],
                "ProductionDateTime": _iso(scene.start),
                "ArchiveAndDistributionInformation": [
                    {"Name": f"{scene.name}.zip", "Size": 4000.0, "SizeUnit": "MB"}
                ],
            },
            "Platforms": [{"ShortName": mission.upper(), "Instruments": [{"ShortName": "C-SAR"}]}],
        },
    }


def _area(form: Sequence[tuple[str, str]]) -> shapely.Geometry | None:
    for key, value in form:
        if key not in ("bounding_box", "polygon"):
            continue
        numbers = [float(v) for v in value.split(",") if v]
        if key == "bounding_box":
            return shapely.box(*numbers)
        return shapely.Polygon(list(zip(numbers[::2], numbers[1::2], strict=True)))
    return None


def _temporal(form: Sequence[tuple[str, str]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    for key, value in form:
        if key == "temporal":
            parts = [*value.split(","), "", ""][:2]
            start, end = (
                dt.datetime.fromisoformat(p.replace("Z", "+00:00")) if p else None for p in parts
            )
            return start, end
    return None, None


def matches(scene: Scene, form: Sequence[tuple[str, str]]) -> bool:
    """Whether a scene answers the (translated) CMR query."""
    short_names = [v for k, v in form if k == "shortName"]
    if short_names and f"SENTINEL-1{scene.platform}_SLC" not in short_names:
        return False
    for key, value in form:
        if key != "attribute[]":
            continue
        _, name, wanted = value.split(",", 2)
        have = {"ASCENDING_DESCENDING": scene.direction.upper(), "BEAM_MODE": "IW"}.get(name)
        if name == "POLARIZATION":
            have = scene.polarisation
        if have is not None and have.upper() != wanted.upper():
            return False
    area = _area(form)
    if area is not None and not scene.footprint.intersects(area):
        return False
    start, end = _temporal(form)
    if start is not None and scene.stop < start:
        return False
    return not (end is not None and scene.start > end)


class FakeCMR:
    """Serves ``scenes`` on ``server`` at CMR's granule search path; ``failures`` (status codes) are
    answered first, one per request, before normal service."""

    def __init__(self, server: FakeServer, scenes: Sequence[Scene]) -> None:
        self.scenes = list(scenes)
        self.failures: list[int] = []
        self.queries: list[list[tuple[str, str]]] = []
        server.routes[("POST", GRANULE_PATH)] = self.search

    def search(self, request: Request) -> Response:
        if self.failures:
            status = self.failures.pop(0)
            return Response.json({"errors": [f"fake failure {status}"]}, status)
        form = request.form()
        self.queries.append(form)
        hits = sorted(
            (s for s in self.scenes if matches(s, form)),
            key=lambda s: (-s.stop.timestamp(), s.name),
        )
        size = int(dict(form).get("page_size", 250))
        offset = int(request.headers.get("CMR-Search-After") or 0)
        page = hits[offset : offset + size]
        headers = {"CMR-Hits": str(len(hits))}
        if offset + size < len(hits):
            headers["CMR-Search-After"] = str(offset + size)
        return Response.json(
            {"hits": len(hits), "took": 1, "items": [umm_item(s) for s in page]}, **headers
        )
