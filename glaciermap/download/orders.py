"""HyP3 orders for a download plan, through ``hyp3_sdk``: find, price, submit, resubmit, watch.

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
``check_credits()``; a shortfall is an error with both numbers and nothing is submitted.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from glaciermap.catalog import Catalog
from glaciermap.download.plan import DownloadPlan
from glaciermap.errors import AuthError, RemoteError

log = logging.getLogger(__name__)

RTC_JOB = "RTC_GAMMA"
INSAR_JOB = "INSAR_GAMMA"
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
        """The job dictionary hyp3_sdk submits."""
        from hyp3_sdk import HyP3

        if self.job_type == RTC_JOB:
            return dict(HyP3.prepare_rtc_job(self.granules[0], name=name, **RTC_OPTIONS))
        return dict(
            HyP3.prepare_insar_job(self.granules[0], self.granules[1], name=name, **INSAR_OPTIONS)
        )


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
    job: Any = None  # the newest hyp3_sdk Job for the product, if any
    attempts: int = 0  # jobs ordered for it so far


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def job_cost(costs: Any, job: dict[str, Any]) -> float:
    """Credits ``job`` (a prepared job dict) costs by HyP3's ``/costs`` table.

    Reads both layouts the API has used: a list of ``{"job_type", "cost_parameters", "cost_table":
    [{"parameter_value": {...}, "cost"}]}`` or ``{"job_type", "cost"}`` entries (HyP3 6.3 on), and a
    mapping ``job_type -> {"cost_parameter", "cost_table": {value: cost}}`` or ``{"cost"}``; jobs the
    table does not list cost its ``DEFAULT`` entry, else 1.
    """
    job_type = job["job_type"]
    params = job.get("job_parameters", {})
    entries: dict[str, Any]
    if isinstance(costs, list):
        entries = {str(e.get("job_type")): e for e in costs if isinstance(e, dict)}
    else:
        entries = dict(costs or {})
    entry = entries.get(job_type, entries.get("DEFAULT"))
    if entry is None:
        return 1.0
    if "cost" in entry and "cost_table" not in entry:
        return float(entry["cost"])
    table = entry.get("cost_table", [])
    if isinstance(table, list):
        for row in table:
            wanted = row.get("parameter_value", {})
            if all(str(params.get(k)) == str(v) for k, v in wanted.items()):
                return float(row["cost"])
    else:
        parameter = entry.get("cost_parameter")
        value = params.get(parameter)
        for key, cost in table.items():
            if str(key) == str(value) or _same_number(key, value):
                return float(cost)
    raise RemoteError(
        f"HyP3's cost table has no price for {job_type} with {params}",
        "report this: the job options glaciermap orders may have changed on the service",
    )


def _same_number(a: object, b: object) -> bool:
    try:
        return float(str(a)) == float(str(b))
    except ValueError:
        return False


class Orders:
    """The HyP3 side of one region's year: survey, order, watch; the catalog remembers the jobs."""

    def __init__(
        self,
        hyp3: Any,
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
    ) -> dict[tuple[str, tuple[str, ...]], list[Any]]:
        found: dict[tuple[str, tuple[str, ...]], list[Any]] = {}
        for slot in sorted(set(slots)):
            name = job_name(self.region, self.year, slot)
            for job in _call(functools.partial(self.hyp3.find_jobs, name=name)):
                granules = tuple((job.job_parameters or {}).get("granules", ()))
                found.setdefault((job.job_type, granules), []).append(job)
        for jobs in found.values():
            jobs.sort(key=lambda j: _as_utc(j.request_time))
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
                expired = (
                    newest.expiration_time is not None and _as_utc(newest.expiration_time) <= now
                )
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
        costs = _call(self.hyp3.costs)
        return sum(job_cost(costs, s.product.prepared(self._name(s))) for s in states)

    def _name(self, state: OrderState) -> str:
        return job_name(self.region, self.year, state.product.slot)

    def submit(self, states: Sequence[OrderState]) -> list[OrderState]:
        """Order every product in ``states`` that needs a job; credits are checked first."""
        wanted = self.to_order(states)
        if not wanted:
            return []
        needed = self.cost(wanted)
        remaining = _call(self.hyp3.check_credits)
        if remaining is not None and needed > float(remaining):
            raise RemoteError(
                f"HyP3 credits: {len(wanted)} job(s) need {needed:g} credits, {float(remaining):g} left",
                "wait for your monthly allotment, or order fewer dates with --acquisitions",
            )
        submitted: list[OrderState] = []
        for start in range(0, len(wanted), SUBMIT_CHUNK):
            chunk = wanted[start : start + SUBMIT_CHUNK]
            prepared = [s.product.prepared(self._name(s)) for s in chunk]
            batch = _call(functools.partial(self.hyp3.submit_prepared_jobs, prepared))
            jobs = list(batch)
            by_key = {(j.job_type, tuple(j.job_parameters["granules"])): j for j in jobs}
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
            job = _call(functools.partial(self.hyp3.get_job_by_id, state.job.job_id))
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

    def _remember(self, job: Any, product: Product, *, attempts: int | None = None) -> None:
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
                    _as_utc(expires).isoformat() if expires is not None else None,
                    count,
                    time.time(),
                ),
            )


def _as_utc(when: Any) -> dt.datetime:
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _call(fn: Callable[[], Any]) -> Any:
    """Run a hyp3_sdk call, turning its errors into glaciermap's (one line, what to do)."""
    from hyp3_sdk.exceptions import AuthenticationError, HyP3Error, HyP3SDKError
    from requests import RequestException

    from glaciermap.download.auth import HOW_TO_LOG_IN

    try:
        return fn()
    except AuthenticationError:
        raise AuthError("Earthdata Login refused the credentials", HOW_TO_LOG_IN) from None
    except HyP3Error as exc:
        text = str(exc)
        if "401" in text or "403" in text:
            raise AuthError(
                f"HyP3 refused the credentials ({_first_line(text)})", HOW_TO_LOG_IN
            ) from None
        raise RemoteError(f"HyP3 refused the request: {_first_line(text)}") from None
    except HyP3SDKError as exc:
        raise RemoteError(
            f"HyP3 failed: {_first_line(str(exc)) or type(exc).__name__}", "try again later"
        ) from None
    except RequestException as exc:
        raise RemoteError(
            f"cannot reach HyP3: {type(exc).__name__}", "check the network connection and try again"
        ) from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


__all__ = [
    "INSAR_JOB",
    "RTC_JOB",
    "OrderState",
    "Orders",
    "Product",
    "connect",
    "job_cost",
    "job_name",
    "wanted_products",
]


PRODUCTION_API = "https://hyp3-api.asf.alaska.edu"


def connect(credentials: Any, api_url: str = PRODUCTION_API) -> Any:
    """A ``hyp3_sdk.HyP3`` client logged in with ``credentials`` (:mod:`glaciermap.download.auth`)."""
    from hyp3_sdk import HyP3

    if credentials.token:
        return _call(lambda: HyP3(api_url, token=credentials.token))
    return _call(
        lambda: HyP3(api_url, username=credentials.username, password=credentials.password)
    )
