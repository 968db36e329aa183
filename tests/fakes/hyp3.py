"""A fake of the HyP3 API (jobs, user, costs) and of its product bucket, as hyp3_sdk talks to them.

Jobs move PENDING -> RUNNING -> SUCCEEDED (or FAILED, when a product is told to fail) one step per
``advance()``; with ``auto_advance`` every job read advances it. A succeeded job lists one zip whose
bytes are a real, small HyP3-style product written by glaciermap's product writers, served by
:class:`FileBucket` with Range support and scriptable faults.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import from_origin

from glaciermap.io.hyp3 import InsarName, RtcName, write_insar_product, write_rtc_product

from .server import FakeServer, Request, Response

UNAUTHORISED = {
    "detail": "No authorization token provided",
    "status": 401,
    "title": "Unauthorized",
    "type": "about:blank",
}
COSTS = [
    {
        "job_type": "RTC_GAMMA",
        "cost_parameters": ["resolution"],
        "cost_table": [
            {"parameter_value": {"resolution": 10}, "cost": 60.0},
            {"parameter_value": {"resolution": 20}, "cost": 15.0},
            {"parameter_value": {"resolution": 30}, "cost": 5.0},
        ],
    },
    {
        "job_type": "INSAR_GAMMA",
        "cost_parameters": ["looks"],
        "cost_table": [
            {"parameter_value": {"looks": "10x2"}, "cost": 15.0},
            {"parameter_value": {"looks": "20x4"}, "cost": 10.0},
        ],
    },
]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def product_zip(job_type: str, granules: list[str], folder: Path) -> Path:
    """A small real HyP3-style product zip for a job (RTC at 10 m, InSAR at 40 m)."""
    processed = dt.datetime(2026, 1, 1, 12, 0)
    rng = np.random.default_rng(abs(hash(tuple(granules))) % 2**32)
    if job_type == "RTC_GAMMA":
        name = RtcName.from_granule(granules[0], pixel_spacing=10)
        bands = {
            pol: rng.gamma(2.0, 0.05, (48, 48)).astype(np.float32) for pol in name.polarisations
        }
        return write_rtc_product(
            folder,
            name,
            crs="EPSG:32633",
            transform=from_origin(430_000, 8_758_000, 10, 10),
            bands=bands,
            ls_map=np.ones((48, 48), np.uint8),
            granule=granules[0],
            processed=processed,
        )
    name = InsarName.from_granules(granules[0], granules[1], pixel_spacing=40)
    return write_insar_product(
        folder,
        name,
        crs="EPSG:32633",
        transform=from_origin(430_000, 8_758_000, 40, 40),
        corr=rng.uniform(0, 1, (12, 12)).astype(np.float32),
        reference_granule=granules[0],
        secondary_granule=granules[1],
        processed=processed,
    )


@dataclass
class Fault:
    """What the bucket does to the next request(s) of one file."""

    status: int | None = None  # answer with this status (e.g. 500, 429, 401)
    retry_after: str | None = None  # Retry-After header with the status
    cut_after: int | None = None  # send this many body bytes then drop the connection
    corrupt: bool = False  # flip a byte in the body (a checksum mismatch)
    times: int = 1


@dataclass
class StoredFile:
    data: bytes
    faults: list[Fault] = field(default_factory=list)
    checksum_header: str = "sha256"  # sha256 | md5 | etag | none
    ranges: bool = True  # honour Range requests (else answer 200 with the whole file)


class FileBucket:
    """Files under ``/files/...`` with HTTP Range, HEAD, checksums in headers, scripted faults."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.files: dict[str, StoredFile] = {}
        self.bytes_sent = 0
        server.routes[("GET", "/files/")] = self.get
        server.routes[("HEAD", "/files/")] = self.get

    def put(self, path: str, data: bytes, **kwargs: Any) -> str:
        self.files[path] = StoredFile(data, **kwargs)
        return f"{self.server.url}{path}"

    def _headers(self, stored: StoredFile) -> dict[str, str]:
        data = stored.data
        headers = {"Content-Type": "application/zip"}
        if stored.ranges:
            headers["Accept-Ranges"] = "bytes"
        if stored.checksum_header == "sha256":
            headers["x-amz-checksum-sha256"] = base64.b64encode(
                hashlib.sha256(data).digest()
            ).decode()
        elif stored.checksum_header == "md5":
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        if stored.checksum_header in ("etag", "md5", "sha256"):
            headers["ETag"] = f'"{hashlib.md5(data).hexdigest()}"'
        return headers

    def get(self, request: Request) -> Response:
        stored = self.files.get(request.path)
        if stored is None:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>")
        fault = stored.faults[0] if stored.faults else None
        if fault is not None:
            fault.times -= 1
            if fault.times <= 0:
                stored.faults.pop(0)
            if fault.status is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return Response(fault.status, b"fault", headers)
        data = stored.data
        headers = self._headers(stored)
        status = 200
        wanted = request.headers.get("Range")
        if wanted and wanted.startswith("bytes=") and stored.ranges:
            first, _, last = wanted[6:].partition("-")
            start = int(first)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                return Response(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start : end + 1]
            status = 206
        if fault is not None and fault.corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        cut = fault.cut_after if fault is not None else None
        if request.method != "HEAD":
            self.bytes_sent += len(data) if cut is None else min(cut, len(data))
        return Response(status, data, headers, cut_after=cut)


class FakeHyP3:
    """The HyP3 API on ``api`` with products in ``bucket``."""

    def __init__(
        self,
        api: FakeServer,
        bucket: FileBucket,
        *,
        token: str = "test-token",
        login: tuple[str, str] = ("tester", "test-password"),
        credits: float | None = 10_000.0,
        auto_advance: bool = False,
        expires_after: dt.timedelta = dt.timedelta(days=14),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        products: Callable[[str, list[str], Path], Path] = product_zip,
    ) -> None:
        """``products(job_type, granules, folder)`` makes (or finds) a finished job's zip."""
        self.api = api
        self.products = products
        self.bucket = bucket
        self.token = token
        self.login = login
        self.credits = credits
        self.auto_advance = auto_advance
        self.expires_after = expires_after
        self.clock = clock
        self.jobs: dict[str, dict[str, Any]] = {}
        self.fail_next: dict[tuple[str, tuple[str, ...]], int] = {}  # product -> jobs to fail
        self.submissions: list[list[dict[str, Any]]] = []
        self.page_size = 50
        self._products = Path(tempfile.mkdtemp(prefix="fake-hyp3-"))
        self._zips: dict[str, tuple[str, bytes]] = {}
        self._sessions: set[str] = set()
        api.routes[("GET", "/user")] = self.user
        api.routes[("GET", "/costs")] = self.costs
        api.routes[("GET", "/jobs")] = self.find
        api.routes[("POST", "/jobs")] = self.submit
        api.routes[("GET", "/oauth")] = self.oauth

    # auth ------------------------------------------------------------------------------------------

    def oauth(self, request: Request) -> Response:
        """Stands in for Earthdata Login's OAuth redirect: basic auth in, session cookie out."""
        wanted = "Basic " + base64.b64encode(":".join(self.login).encode()).decode()
        if request.headers.get("Authorization") != wanted:
            return Response(401, b"Unauthorized")
        cookie = uuid.uuid4().hex
        self._sessions.add(cookie)
        return Response(200, b"ok", {"Set-Cookie": f"asf-urs={cookie}; Path=/"})

    def _authorised(self, request: Request) -> bool:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        cookies = request.headers.get("Cookie", "")
        return any(
            part.strip().removeprefix("asf-urs=") in self._sessions for part in cookies.split(";")
        )

    # endpoints -------------------------------------------------------------------------------------

    def user(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response.json(UNAUTHORISED, 401)
        names = sorted({j["name"] for j in self.jobs.values() if j.get("name")})
        return Response.json(
            {"user_id": "tester", "remaining_credits": self.credits, "job_names": names}
        )

    def costs(self, request: Request) -> Response:
        return Response.json(COSTS)

    def find(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response.json(UNAUTHORISED, 401)
        job_id = request.path.removeprefix("/jobs").strip("/")
        if job_id:
            job = self.jobs.get(job_id)
            if job is None:
                return Response.json({"detail": f"job {job_id} not found", "status": 404}, 404)
            if self.auto_advance:
                self._advance(job)
            return Response.json(job)
        query = dict(request.query)
        jobs = [
            j
            for j in self.jobs.values()
            if all(
                str(j.get(k)) == v
                for k, v in query.items()
                if k in ("name", "status_code", "job_type")
            )
        ]
        offset = int(query.get("offset", 0))
        page = jobs[offset : offset + self.page_size]
        body: dict[str, Any] = {"jobs": page}
        if offset + self.page_size < len(jobs):
            rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "offset")
            body["next"] = f"{self.api.url}/jobs?{rest}&offset={offset + self.page_size}"
        return Response.json(body)

    def submit(self, request: Request) -> Response:
        if not self._authorised(request):
            return Response.json(UNAUTHORISED, 401)
        from glaciermap.io.hyp3.api import job_cost

        wanted = request.json()["jobs"]
        cost = sum(job_cost(COSTS, job) for job in wanted)
        if self.credits is not None and cost > self.credits:
            return Response.json(
                {
                    "detail": f"These jobs would cost {cost} credits, but you have only "
                    f"{self.credits} remaining.",
                    "status": 400,
                },
                400,
            )
        self.submissions.append(wanted)
        created = []
        for job in wanted:
            record = {
                "job_id": str(uuid.uuid4()),
                "job_type": job["job_type"],
                "job_parameters": dict(job["job_parameters"]),
                "name": job.get("name"),
                "request_time": _iso(self.clock()),
                "status_code": "PENDING",
                "user_id": "tester",
                "credit_cost": job_cost(COSTS, job),
            }
            self.jobs[record["job_id"]] = record
            created.append(record)
        if self.credits is not None:
            self.credits -= cost
        return Response.json({"jobs": created})

    # job life --------------------------------------------------------------------------------------

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status_code"] == "PENDING":
            job["status_code"] = "RUNNING"
        elif job["status_code"] == "RUNNING":
            key = (job["job_type"], tuple(job["job_parameters"]["granules"]))
            if self.fail_next.get(key, 0) > 0:
                self.fail_next[key] -= 1
                job["status_code"] = "FAILED"
                return
            self._succeed(job)

    def _succeed(self, job: dict[str, Any]) -> None:
        key = f"{job['job_type']}:{','.join(job['job_parameters']['granules'])}"
        if key not in self._zips:
            path = self.products(job["job_type"], job["job_parameters"]["granules"], self._products)
            self._zips[key] = (path.name, path.read_bytes())
        filename, data = self._zips[key]
        url = self.bucket.put(f"/files/{job['job_id']}/{filename}", data)
        job["status_code"] = "SUCCEEDED"
        job["files"] = [
            {
                "filename": filename,
                "size": len(data),
                "url": url,
                "s3": {"bucket": "fake-bucket", "key": f"{job['job_id']}/{filename}"},
            }
        ]
        job["expiration_time"] = _iso(self.clock() + self.expires_after)
        job["browse_images"], job["thumbnail_images"], job["logs"] = [], [], []

    def advance(self, steps: int = 1) -> None:
        """Move every unfinished job ``steps`` steps along."""
        for _ in range(steps):
            for job in self.jobs.values():
                self._advance(job)

    def finish(self) -> None:
        self.advance(2)

    def expire(self, job_id: str) -> None:
        """The job's files are gone: expiration in the past, bucket objects deleted."""
        job = self.jobs[job_id]
        job["expiration_time"] = _iso(self.clock() - dt.timedelta(days=1))
        for file in job.get("files", []):
            self.bucket.files.pop(file["url"].removeprefix(self.bucket.server.url), None)
