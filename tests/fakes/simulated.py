"""HyP3 products of simulated years, served by the fake HyP3 for the jobs a real download orders.

The fake CMR lists the simulator's passes (:func:`glaciermap.simulate.catalogue.simulated_scenes`),
so an RTC job's granule starts when one simulated pass starts, and an InSAR job's reference granule
too. :class:`SimulatedProducts` finds that pass in the folders ``simulate_year`` wrote (its
``simulation.json``) and hands the fake HyP3 the simulated zip instead of a random one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

_START = re.compile(r"_(\d{8}T\d{6})_")


def granule_start(granule: str) -> str:
    """``YYYYMMDDTHHMMSS`` of a Sentinel-1 granule name."""
    found = _START.search(granule)
    if found is None:
        raise ValueError(f"no start time in granule {granule!r}")
    return found.group(1)


class SimulatedProducts:
    """``products(job_type, granules, folder) -> zip`` for :class:`fakes.hyp3.FakeHyP3`."""

    def __init__(self, *folders: Path) -> None:
        self.by_start: dict[str, dict[str, Path]] = {}
        for folder in folders:
            manifest = json.loads((folder / "simulation.json").read_text(encoding="utf-8"))
            for record in manifest["acquisitions"]:
                start = dt.datetime.fromisoformat(record["start"]).strftime("%Y%m%dT%H%M%S")
                self.by_start[start] = {
                    "RTC_GAMMA": folder / record["rtc"],
                    "INSAR_GAMMA": folder / record["insar"],
                }

    def __call__(self, job_type: str, granules: list[str], folder: Path) -> Path:
        start = granule_start(granules[0])
        if start not in self.by_start:
            raise LookupError(f"no simulated pass starts at {start} (granule {granules[0]})")
        return self.by_start[start][job_type]
