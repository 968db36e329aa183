"""The HyP3 API through ``hyp3_sdk``: log in, prepare and submit jobs, find and refresh them, costs.

The only module of glaciermap that imports ``hyp3_sdk`` (inside the functions: importing it stays
cheap). What the rest of glaciermap sees are plain records, :class:`Job` and :class:`JobFile`, and one
line errors: every failure of a call becomes an :class:`~glaciermap.errors.AuthError` (credentials
refused, with the caller's ``login_hint``) or a :class:`~glaciermap.errors.RemoteError` (the service
failed or cannot be reached). Credentials go to ``hyp3_sdk`` and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glaciermap.errors import AuthError, RemoteError

PRODUCTION_API = "https://hyp3-api.asf.alaska.edu"
RTC_JOB = "RTC_GAMMA"
INSAR_JOB = "INSAR_GAMMA"


@dataclass(frozen=True)
class JobFile:
    """A file a succeeded job lists: its name, where to fetch it, and its size in bytes when listed."""

    filename: str
    url: str
    size: int | None = None


@dataclass(frozen=True)
class Job:
    """One HyP3 job as the API lists it.

    Attributes:
        job_id: the service's id. job_type: ``"RTC_GAMMA"``, ``"INSAR_GAMMA"``, ...
        name: the name it was ordered under, if any.
        status_code: ``"PENDING"``, ``"RUNNING"``, ``"SUCCEEDED"`` or ``"FAILED"``.
        granules: the input granules (one for RTC, reference and secondary for INSAR).
        request_time: when it was ordered; expiration_time: when its files are deleted (None until
            it succeeds). Both aware (a time listed without an offset is taken to be UTC).
        files: the product files of a succeeded job.
    """

    job_id: str
    job_type: str
    name: str | None
    status_code: str
    granules: tuple[str, ...]
    request_time: dt.datetime
    expiration_time: dt.datetime | None = None
    files: tuple[JobFile, ...] = ()


def _aware(when: Any) -> dt.datetime:
    """A listed time as an aware datetime (an ISO string, or a datetime without offset, is UTC)."""
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _job(sdk_job: Any) -> Job:
    """A :class:`Job` from a ``hyp3_sdk.Job``."""
    files = tuple(
        JobFile(str(entry["filename"]), str(entry["url"]), entry.get("size"))
        for entry in sdk_job.files or []
    )
    expires = sdk_job.expiration_time
    return Job(
        job_id=sdk_job.job_id,
        job_type=sdk_job.job_type,
        name=sdk_job.name,
        status_code=sdk_job.status_code,
        granules=tuple((sdk_job.job_parameters or {}).get("granules", ())),
        request_time=_aware(sdk_job.request_time),
        expiration_time=_aware(expires) if expires is not None else None,
        files=files,
    )


def job_from_dict(record: Mapping[str, Any]) -> Job:
    """A :class:`Job` from one entry of the API's job listing (``{"job_id", "job_type", ...}``), read by
    ``hyp3_sdk`` as a live listing would be."""
    from hyp3_sdk import Job as SdkJob

    return _job(SdkJob.from_dict(dict(record)))


def prepare_job(
    job_type: str, granules: Sequence[str], name: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The job dictionary the API takes for one RTC_GAMMA (one granule) or INSAR_GAMMA (reference and
    secondary granule) job with processing ``options`` (e.g. ``{"resolution": 10}``)."""
    from hyp3_sdk import HyP3

    if job_type == RTC_JOB:
        return dict(HyP3.prepare_rtc_job(granules[0], name=name, **options))
    if job_type == INSAR_JOB:
        return dict(HyP3.prepare_insar_job(granules[0], granules[1], name=name, **options))
    raise ValueError(f"glaciermap orders RTC_GAMMA and INSAR_GAMMA jobs, not {job_type}")


def job_cost(costs: Any, job: Mapping[str, Any]) -> float:
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


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _call(fn: Callable[[], Any], login_hint: str) -> Any:
    """Run a hyp3_sdk call, turning its errors into glaciermap's (one line, what to do)."""
    from hyp3_sdk.exceptions import AuthenticationError, HyP3Error, HyP3SDKError
    from requests import RequestException

    try:
        return fn()
    except AuthenticationError:
        raise AuthError("Earthdata Login refused the credentials", login_hint) from None
    except HyP3Error as exc:
        text = str(exc)
        if "401" in text or "403" in text:
            raise AuthError(
                f"HyP3 refused the credentials ({_first_line(text)})", login_hint
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


class Hyp3Client:
    """A logged-in HyP3 API (see :func:`connect`); each method is one or a few API requests."""

    def __init__(self, sdk: Any, login_hint: str) -> None:
        self._sdk = sdk
        self._login_hint = login_hint

    def _call(self, fn: Callable[[], Any]) -> Any:
        return _call(fn, self._login_hint)

    def find_jobs(self, name: str) -> list[Job]:
        """Every job ordered under ``name`` (all pages)."""
        return [_job(job) for job in self._call(lambda: self._sdk.find_jobs(name=name))]

    def job(self, job_id: str) -> Job:
        """The job ``job_id`` as it stands now."""
        return _job(self._call(lambda: self._sdk.get_job_by_id(job_id)))

    def submit(self, prepared: Sequence[Mapping[str, Any]]) -> list[Job]:
        """Order the prepared jobs (:func:`prepare_job`) in one request; the jobs the service created."""
        batch = self._call(lambda: self._sdk.submit_prepared_jobs([dict(p) for p in prepared]))
        return [_job(job) for job in batch]

    def costs(self) -> Any:
        """The service's cost table (see :func:`job_cost`)."""
        return self._call(self._sdk.costs)

    def credits(self) -> float | None:
        """Credits left this month; None when the service does not count them."""
        remaining = self._call(self._sdk.check_credits)
        return None if remaining is None else float(remaining)


def connect(
    api_url: str = PRODUCTION_API,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    login_hint: str,
) -> Hyp3Client:
    """Log in to the HyP3 API with an Earthdata Login token, or else a username and password.

    Args:
        api_url: the API's address.
        token, username, password: the credentials; handed to hyp3_sdk, never logged.
        login_hint: what the user can do when the credentials are refused (named in the AuthError).

    Raises:
        AuthError: the credentials were refused.
        RemoteError: the service failed or cannot be reached.
    """
    from hyp3_sdk import HyP3

    if token:
        sdk = _call(lambda: HyP3(api_url, token=token), login_hint)
    else:
        sdk = _call(lambda: HyP3(api_url, username=username, password=password), login_hint)
    return Hyp3Client(sdk, login_hint)


__all__ = [
    "INSAR_JOB",
    "PRODUCTION_API",
    "RTC_JOB",
    "Hyp3Client",
    "Job",
    "JobFile",
    "connect",
    "job_cost",
    "job_from_dict",
    "prepare_job",
]
