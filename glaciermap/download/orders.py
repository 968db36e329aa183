"""HyP3 orders for a download plan: find, price, submit, resubmit, watch (through ``io.hyp3.api``).

Every product the plan needs is one HyP3 job: RTC_GAMMA at 10 m (gamma0, power; the layover-shadow map
is always in the package) per reference scene, INSAR_GAMMA with 10x2 looks (40 m pixels) per reference /
partner pair. Jobs are **named** after the region, year and slot (``glaciermap-svalbard-2016-s03``), so
the next run finds them again with one ``find_jobs(name=...)`` per slot and matches each to its product
by job type and granules, instead of ordering twice. Then, per product:

* the newest job SUCCEEDED and not expired: nothing to order (its files can be fetched);
* PENDING or RUNNING: wait;
* FAILED: order again, at most ``max_attempts`` jobs in all, then give up on that product;
* SUCCEEDED but expired (its files are gone): order again;
* no job: order.

Before submitting, the credits the new jobs cost (the service's ``/costs`` table) are checked against
the credits left; a shortfall is an error with both numbers and nothing is submitted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from glaciermap.catalog import Catalog
from glaciermap.download.plan import DownloadPlan
from glaciermap.errors import RemoteError
from glaciermap.io.hyp3.api import INSAR_JOB, RTC_JOB, Hyp3Client, Job, job_cost, prepare_job

log = logging.getLogger(__name__)

RTC_OPTIONS: dict[str, Any] = {"resolution": 10, "radiometry": "gamma0", "scale": "power"}
INSAR_OPTIONS: dict[str, Any] = {"looks": "10x2"}
SUBMIT_CHUNK = 200  # jobs per POST, as hyp3_sdk chunks them
MAX_NAME = 100  # HyP3's limit on job names


@dataclass(frozen=True)
class Product:
    """A HyP3 product the plan needs."""

    job_type: str  # RTC_GAMMA | INSAR_GAMMA
    granules: tuple[str, ...]
    slot: int

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.job_type, self.granules

    def prepared(self, name: str) -> dict[str, Any]:
        """The job dictionary the HyP3 API takes, with the options glaciermap orders."""
        options = RTC_OPTIONS if self.job_type == RTC_JOB else INSAR_OPTIONS
        return prepare_job(self.job_type, self.granules, name, options)


def job_name(region: str, year: int, slot: int) -> str:
    """The job name of a region's slot: ``glaciermap-<region>-<year>-s<slot>`` (1-based slot)."""
    return f"glaciermap-{region}-{year}-s{slot + 1:02d}"[:MAX_NAME]


def wanted_products(plan: DownloadPlan) -> list[Product]:
    """One RTC per reference scene and one InSAR per frame pair, slot by slot."""
    products: list[Product] = []
    for slot in plan.slots:
        products += [Product(RTC_JOB, (scene.name,), slot.index) for scene in slot.references]
        products += [Product(INSAR_JOB, (a.name, b.name), slot.index) for a, b in slot.pairs]
    return products


@dataclass
class OrderState:
    """Where one product stands with HyP3."""

    product: Product
    state: str  # succeeded | running | failed | expired | missing | given-up
    job: Job | None = None  # the newest job for the product, if any
    attempts: int = 0  # jobs ordered for it so far


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Orders:
    """The HyP3 side of one region's year: survey, order, watch; the catalog remembers the jobs."""

    def __init__(
        self,
        hyp3: Hyp3Client,
        catalog: Catalog,
        region: str,
        year: int,
        *,
        max_attempts: int = 3,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.hyp3 = hyp3
        self.catalog = catalog
        self.region = region
        self.year = year
        self.max_attempts = max_attempts
        self.clock = clock

    # -- finding ---------------------------------------------------------------------------------

    def _jobs_by_product(
        self, slots: Iterable[int]
    ) -> dict[tuple[str, tuple[str, ...]], list[Job]]:
        found: dict[tuple[str, tuple[str, ...]], list[Job]] = {}
        for slot in sorted(set(slots)):
            for job in self.hyp3.find_jobs(job_name(self.region, self.year, slot)):
                found.setdefault((job.job_type, job.granules), []).append(job)
        for jobs in found.values():
            jobs.sort(key=lambda j: j.request_time)
        return found

    def survey(
        self,
        products: Sequence[Product],
        *,
        fetched: AbstractSet[tuple[str, tuple[str, ...]]] = frozenset(),
    ) -> list[OrderState]:
        """Where each product stands. ``fetched`` products are complete locally: an expired job of
        theirs needs no new order."""
        found = self._jobs_by_product(p.slot for p in products)
        now = self.clock()
        states = []
        for product in products:
            jobs = found.get(product.key, [])
            newest = jobs[-1] if jobs else None
            state = "missing"
            if newest is not None:
                status = newest.status_code
                expired = newest.expiration_time is not None and newest.expiration_time <= now
                if status == "SUCCEEDED":
                    state = "expired" if expired and product.key not in fetched else "succeeded"
                elif status in ("PENDING", "RUNNING"):
                    state = "running"
                else:
                    state = "failed" if len(jobs) < self.max_attempts else "given-up"
            states.append(OrderState(product, state, newest, len(jobs)))
            if newest is not None:
                self._remember(newest, product)
        return states

    # -- ordering --------------------------------------------------------------------------------

    def to_order(self, states: Sequence[OrderState]) -> list[OrderState]:
        return [s for s in states if s.state in ("missing", "failed", "expired")]

    def cost(self, states: Sequence[OrderState]) -> float:
        """Credits ordering ``states`` would cost."""
        if not states:
            return 0.0
        costs = self.hyp3.costs()
        return sum(job_cost(costs, s.product.prepared(self._name(s))) for s in states)

    def _name(self, state: OrderState) -> str:
        return job_name(self.region, self.year, state.product.slot)

    def submit(self, states: Sequence[OrderState]) -> list[OrderState]:
        """Order every product in ``states`` that needs a job; credits are checked first."""
        wanted = self.to_order(states)
        if not wanted:
            return []
        needed = self.cost(wanted)
        remaining = self.hyp3.credits()
        if remaining is not None and needed > remaining:
            raise RemoteError(
                f"HyP3 credits: {len(wanted)} job(s) need {needed:g} credits, {remaining:g} left",
                "wait for your monthly allotment, or order fewer dates with --acquisitions",
            )
        submitted: list[OrderState] = []
        for start in range(0, len(wanted), SUBMIT_CHUNK):
            chunk = wanted[start : start + SUBMIT_CHUNK]
            prepared = [s.product.prepared(self._name(s)) for s in chunk]
            by_key = {(j.job_type, j.granules): j for j in self.hyp3.submit(prepared)}
            for state in chunk:
                job = by_key.get(state.product.key)
                if job is None:
                    raise RemoteError(
                        f"HyP3 accepted the order but returned no job for {state.product.granules[0]}",
                        "run the download again: it finds jobs by name",
                    )
                state.job, state.state, state.attempts = job, "running", state.attempts + 1
                self._remember(job, state.product, attempts=state.attempts)
                submitted.append(state)
        log.info("ordered %d HyP3 job(s) for %g credits", len(submitted), needed)
        return submitted

    # -- watching --------------------------------------------------------------------------------

    def refresh(self, states: Sequence[OrderState]) -> None:
        """Re-read the jobs still running (one request per job, as hyp3_sdk refreshes)."""
        for state in states:
            if state.state != "running" or state.job is None:
                continue
            job = self.hyp3.job(state.job.job_id)
            state.job = job
            if job.status_code == "SUCCEEDED":
                state.state = "succeeded"
            elif job.status_code == "FAILED":
                state.state = "failed" if state.attempts < self.max_attempts else "given-up"
            self._remember(job, state.product, attempts=state.attempts)

    def watch(
        self,
        states: list[OrderState],
        *,
        interval: float = 60.0,
        timeout: float = 6 * 3600.0,
        progress: Callable[[int, int], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Refresh until no job runs; failed ones are ordered again (bounded by ``max_attempts``)."""
        began = time.monotonic()
        while True:
            self.refresh(states)
            if any(s.state == "failed" for s in states):
                self.submit([s for s in states if s.state == "failed"])
            done = sum(s.state in ("succeeded", "given-up") for s in states)
            if progress is not None:
                progress(done, len(states))
            if done == len(states):
                return
            if time.monotonic() - began > timeout:
                raise RemoteError(
                    f"HyP3 jobs still running after {timeout / 3600:g} h ({len(states) - done} left)",
                    "run the download again later: it picks the jobs up by name",
                )
            sleep(interval)

    # -- the catalog -----------------------------------------------------------------------------

    def _remember(self, job: Job, product: Product, *, attempts: int | None = None) -> None:
        expires = job.expiration_time
        with self.catalog.transaction() as db:
            row = db.execute("SELECT attempts FROM jobs WHERE job_id=?", (job.job_id,)).fetchone()
            count = attempts if attempts is not None else (row[0] if row else 1)
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id,
                    job.name or job_name(self.region, self.year, product.slot),
                    job.job_type,
                    self.region,
                    self.year,
                    product.slot,
                    json.dumps(list(product.granules)),
                    job.status_code,
                    expires.isoformat() if expires is not None else None,
                    count,
                    time.time(),
                ),
            )


__all__ = [
    "INSAR_JOB",
    "RTC_JOB",
    "OrderState",
    "Orders",
    "Product",
    "job_name",
    "wanted_products",
]
