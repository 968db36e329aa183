"""Sentinel-1 scenes from ASF's search (CMR), the only module that imports ``asf_search``.

What the rest of glaciermap sees is :class:`Scene`: a plain record of one IW SLC granule (the input HyP3
needs for RTC_GAMMA and INSAR_GAMMA) with its time, relative orbit, frame, polarisation and footprint
(WGS84 longitude/latitude). Searches go through ``asf_search.search`` so paging, retries and CMR's
query syntax are asf_search's; the search host can be pointed elsewhere (``host=``), which is how the
tests talk to a fake CMR on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shapely import Polygon
from shapely.geometry import shape

from glaciermap.errors import AuthError, InputError, RemoteError

log = logging.getLogger(__name__)

ORBIT_DIRECTIONS = {"ascending": "ASCENDING", "descending": "DESCENDING"}


class SearchUnreachableError(RemoteError):
    """The search service cannot be reached at all: no network, no route, refused, unresolvable."""


def _unreachable_reason(exc: BaseException) -> str:
    """``connection refused``, ``temporary failure in name resolution``, ... from a connection error."""
    found = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", str(exc))
    if found:
        return found.group(1).strip().lower()
    return "timed out" if "timed out" in str(exc).lower() else type(exc).__name__


@dataclass(frozen=True)
class Scene:
    """One Sentinel-1 IW SLC granule as ASF lists it.

    Attributes:
        name: the granule (scene) name, e.g. ``S1B_IW_SLC__1SDV_20210102T032031_..._C081``.
        platform: ``"A"``, ``"B"``, ``"C"``...
        start, stop: UTC acquisition times.
        relative_orbit: 1-175 (ASF's ``pathNumber``).
        absolute_orbit: the platform's orbit number.
        frame: ASF frame number (along-track position).
        direction: ``"ascending"`` or ``"descending"``.
        polarisation: as listed, e.g. ``"HH+HV"``, ``"VV+VH"``, ``"VV"``.
        footprint: WGS84 polygon (longitude, latitude).
        bytes: size of the SLC zip, when listed.
    """

    name: str
    platform: str
    start: dt.datetime
    stop: dt.datetime
    relative_orbit: int
    absolute_orbit: int
    frame: int
    direction: str
    polarisation: str
    footprint: Polygon
    bytes: int | None = None

    @property
    def co_pol(self) -> str:
        """The co-polarised channel (``HH`` or ``VV``) of this scene."""
        first = self.polarisation.replace("+", " ").split()[0].upper()
        return first if first in ("HH", "VV") else "HH" if "HH" in self.polarisation else "VV"

    @property
    def date(self) -> dt.date:
        return self.start.date()


def _utc(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def scene_from_properties(
    properties: Mapping[str, Any], geometry: Mapping[str, Any]
) -> Scene | None:
    """A :class:`Scene` from ASF's product properties and GeoJSON geometry; None unless IW SLC."""
    if str(properties.get("processingLevel", "")).upper() != "SLC":
        return None
    if str(properties.get("beamModeType", "")).upper() != "IW":
        return None
    name = str(properties.get("sceneName") or properties.get("fileID", "")).removesuffix("-SLC")
    if not name.startswith("S1"):
        return None
    footprint = shape(geometry)
    if not isinstance(footprint, Polygon):  # an antimeridian split: keep the larger part
        footprint = max(getattr(footprint, "geoms", [footprint]), key=lambda g: g.area)
    platform = str(properties.get("platform", "Sentinel-1")).rsplit("-", 1)[-1][-1:].upper()
    size = properties.get("bytes")
    return Scene(
        name=name,
        platform=platform or name[2],
        start=_utc(str(properties["startTime"])),
        stop=_utc(str(properties.get("stopTime") or properties["startTime"])),
        relative_orbit=int(properties["pathNumber"]),
        absolute_orbit=int(properties.get("orbit") or 0),
        frame=int(properties.get("frameNumber") or 0),
        direction=str(properties.get("flightDirection") or "").lower(),
        polarisation=str(properties.get("polarization") or ""),
        footprint=footprint,
        bytes=int(size) if size not in (None, "") else None,
    )


def scenes_from_products(products: Iterable[Any]) -> list[Scene]:
    """Scenes from ``asf_search`` products (``ASFProduct``: ``.properties`` and ``.geometry``)."""
    scenes = []
    for product in products:
        scene = scene_from_properties(product.properties, product.geometry)
        if scene is not None:
            scenes.append(scene)
    return scenes


def scenes_from_records(records: Iterable[Mapping[str, Any]]) -> list[Scene]:
    """Scenes from recorded search results (``{geometry, umm, meta, properties}`` dicts), parsed by
    asf_search as a live search would parse them."""
    import asf_search
    from asf_search.search.search_generator import as_ASFProduct

    session = asf_search.ASFSession()
    return scenes_from_products(as_ASFProduct(dict(record), session) for record in records)


def search_scenes(
    aoi_wkt: str,
    start: dt.datetime,
    end: dt.datetime,
    direction: str,
    *,
    host: str | None = None,
    session: Any = None,
) -> list[Scene]:
    """Every Sentinel-1 IW SLC scene intersecting ``aoi_wkt`` (WGS84) in ``[start, end]``.

    Args:
        aoi_wkt: area of interest, WKT in longitude/latitude.
        start, end: UTC search window.
        direction: ``"ascending"`` or ``"descending"``.
        host: CMR host (``host[:port]``; asf_search always speaks HTTPS); None for ASF's.
        session: an ``asf_search.ASFSession`` (e.g. one that trusts a test CA); None for a new one.

    Raises:
        SearchUnreachableError: the search service cannot be reached (no network, refused, ...).
        RemoteError: the search service failed.
        AuthError: the search service refused the request (401/403).
    """
    import asf_search
    import requests
    import urllib3
    from asf_search.exceptions import ASFSearch4xxError, ASFSearchError

    if direction not in ORBIT_DIRECTIONS:
        raise InputError(f"unknown orbit direction {direction!r}", "use ascending or descending")
    options: dict[str, Any] = {
        "platform": asf_search.PLATFORM.SENTINEL1,
        "processingLevel": asf_search.PRODUCT_TYPE.SLC,
        "beamMode": asf_search.BEAMMODE.IW,
        "flightDirection": ORBIT_DIRECTIONS[direction],
        "intersectsWith": aoi_wkt,
        "start": start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    search_options = asf_search.ASFSearchOptions(
        **({"host": host} if host else {}),
        session=session or asf_search.ASFSession(),
    )
    where = host or "ASF's search (cmr.earthdata.nasa.gov)"
    try:
        results = asf_search.search(opts=search_options, **options)
    except ASFSearch4xxError as exc:
        text = str(exc)
        if "401" in text or "403" in text:
            raise AuthError(
                f"{where} refused the search ({text.splitlines()[0]})",
                "check your Earthdata Login credentials",
            ) from None
        raise RemoteError(f"{where} rejected the search: {text.splitlines()[0]}") from None
    except requests.exceptions.SSLError as exc:  # reached, but its certificate is not trusted
        raise RemoteError(
            f"cannot search {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            "check the network connection and try again later",
        ) from None
    except requests.ConnectionError as exc:  # refused, unresolvable, no route, connect timeout
        raise SearchUnreachableError(
            f"ASF's search service cannot be reached ({host or 'cmr.earthdata.nasa.gov'}: "
            f"{_unreachable_reason(exc)})",
            "check the network connection and try again later",
        ) from None
    except (ASFSearchError, OSError) as exc:
        raise RemoteError(
            f"cannot search {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            "check the network connection and try again later",
        ) from None
    except urllib3.exceptions.HTTPError as exc:  # raised from inside asf_search, unwrapped
        raise RemoteError(
            f"cannot reach {where}: {type(exc).__name__}",
            "check the network connection and try again later",
        ) from None
    scenes = scenes_from_products(results)
    log.debug("search: %d IW SLC scene(s) from %s", len(scenes), where)
    return scenes


__all__ = [
    "Scene",
    "SearchUnreachableError",
    "scene_from_properties",
    "scenes_from_products",
    "scenes_from_records",
    "search_scenes",
]
