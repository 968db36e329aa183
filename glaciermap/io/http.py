"""Fetch files over HTTP: resumable, retried, verified, and never half-written under a final name.

The only module of glaciermap that talks HTTP through ``requests`` (imported inside the functions);
``download`` fetches HyP3's product files with it.

Each file is downloaded to ``.<stem>.part<suffix>`` beside its final name. An interrupted transfer (dropped
connection, timeout, killed process) resumes from the part file's length with an HTTP ``Range`` request;
a server that ignores the range sends the whole file and the part file starts over. 429 and 5xx answers
are retried after ``Retry-After`` or an exponential back-off, up to ``retries`` times.

A complete part file is verified before it is renamed:

* its **size** against the job's listed size and the server's ``Content-Length``/``Content-Range``;
* its **checksum** where the service gives one: S3's ``x-amz-checksum-sha256`` (asked for with
  ``x-amz-checksum-mode: ENABLED``), ``Content-MD5``, or an ``ETag`` that is a plain MD5 (single-part
  uploads); a mismatch deletes the part file and fetches again once, then is an error;
* its **content**: a zip's members must pass their CRC-32 check and its GeoTIFFs must open with GDAL; a
  GeoTIFF must open.

Only then does a rename give it its final name.
"""

from __future__ import annotations

import base64
import email.utils
import errno
import logging
import os
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glaciermap.errors import InputError, RemoteError
from glaciermap.io.files import file_digest

log = logging.getLogger(__name__)

CHUNK = 1 << 20
RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: where from, where to, and what the listing says it is."""

    url: str
    path: Path
    size: int | None = None
    checksum: str | None = None  # "md5:<hex>" or "sha256:<hex>", when the listing gives one


@dataclass(frozen=True)
class Fetched:
    """What one fetch did."""

    path: Path
    size: int
    bytes_fetched: int  # over the network in this call (0 when skipped)
    resumed_from: int  # part-file bytes kept from an earlier attempt
    checksum: str | None  # what it was verified against
    skipped: bool = False


class NotRangeable(Exception):  # noqa: N818 - a signal to fall back, not an error a user sees
    """The server or the zip does not allow fetching part of a file (fetch the whole file)."""


class ChecksumMismatchError(RemoteError):
    """The bytes on disk are not the bytes the service says it holds."""


def part_path(path: Path) -> Path:
    """The temporary name a file is downloaded under: hidden, marked partial, same extension (GDAL's
    ``/vsizip/`` recognises archives by it)."""
    return path.with_name(f".{path.stem}.part{path.suffix}")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def _checksum_from(headers: Any) -> str | None:
    sha = headers.get("x-amz-checksum-sha256")
    if sha:
        return "sha256:" + base64.b64decode(sha).hex()
    md5 = headers.get("Content-MD5")
    if md5:
        return "md5:" + base64.b64decode(md5).hex()
    etag = (headers.get("ETag") or "").strip('"')
    if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower()):
        return "md5:" + etag.lower()  # multipart ETags ("...-N") are not an MD5 of the object
    return None


def check_content(path: Path, name: str) -> None:
    """Open the file as what its name says: every zip member's CRC, every GeoTIFF with GDAL.

    Raises:
        RemoteError: the file is not what it claims (a broken zip or raster).
    """
    import rasterio

    lower = name.lower()
    try:
        if lower.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad is not None:
                    raise RemoteError(f"{name}: member {bad} fails its CRC check")
                rasters = [m for m in archive.namelist() if m.lower().endswith((".tif", ".tiff"))]
            for member in rasters:
                with rasterio.open(f"/vsizip/{path}/{member}") as src:
                    src.read(1, window=((0, min(1, src.height)), (0, min(1, src.width))))
        elif lower.endswith((".tif", ".tiff")):
            with rasterio.open(path) as src:
                src.read(1, window=((0, min(1, src.height)), (0, min(1, src.width))))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise RemoteError(f"{name} is not a valid zip ({exc})") from None
    except rasterio.errors.RasterioError as exc:
        raise RemoteError(f"{name} holds a raster GDAL cannot read ({exc})") from None


def _session_from_environment() -> Any:
    """A ``requests.Session`` whose proxies and CA bundle are read from the environment once.

    requests re-reads them for every request when ``trust_env`` is on (about 0.5 ms each here, a third
    of the cost of a small file); product URLs need no ``.netrc`` credentials, so nothing else is lost.
    """
    import urllib.request

    import requests

    session = requests.Session()
    session.trust_env = False
    session.proxies.update(urllib.request.getproxies())
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


class Fetcher:
    """Downloads files with ``requests`` (one session per thread).

    Args:
        session_factory: makes a ``requests.Session`` (one per worker thread).
        retries: attempts per file after the first, for retryable failures.
        backoff: first back-off, seconds; doubles each retry up to ``max_backoff``.
        timeout: connect/read timeout per request, seconds.
        sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        session_factory: Callable[[], Any] | None = None,
        *,
        retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session_factory = session_factory or _session_from_environment
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self._local = threading.local()
        # How a part file is opened for writing (a seam for tests that simulate a full disk).
        self.open_part: Callable[[Path, str], Any] = lambda path, mode: path.open(mode)

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.session_factory()
        return session

    # -- one file ------------------------------------------------------------------------------

    def fetch(
        self, remote: RemoteFile, *, on_bytes: Callable[[int], None] | None = None
    ) -> Fetched:
        """Download ``remote`` to its path (see the module docstring); returns what happened."""
        remote.path.parent.mkdir(parents=True, exist_ok=True)
        fetched = 0
        resumed = 0
        for verify_round in range(2):
            got, kept, service_checksum = self._transfer(remote, on_bytes)
            fetched += got
            resumed = max(resumed, kept)
            part = part_path(remote.path)
            try:
                checksum = self._verify(remote, part, service_checksum)
            except ChecksumMismatchError:
                part.unlink(missing_ok=True)
                if verify_round == 0:
                    log.warning("%s: checksum mismatch, fetching it again", remote.path.name)
                    continue
                raise
            except RemoteError:
                part.unlink(missing_ok=True)
                raise
            part.replace(remote.path)
            return Fetched(remote.path, remote.path.stat().st_size, fetched, resumed, checksum)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after: float | None = None) -> None:
        delay = retry_after if retry_after is not None else self.backoff * 2**attempt
        self.sleep(min(delay, self.max_backoff))

    def _transfer(
        self, remote: RemoteFile, on_bytes: Callable[[int], None] | None
    ) -> tuple[int, int, str | None]:
        """Bring the part file to the whole size; returns (bytes fetched, bytes kept, checksum)."""
        return self._pull(
            remote.url, part_path(remote.path), remote.path.name, remote.size, on_bytes
        )

    def fetch_range(
        self,
        url: str,
        offset: int,
        length: int,
        part: Path,
        on_bytes: Callable[[int], None] | None = None,
    ) -> int:
        """Bytes ``[offset, offset + length)`` of ``url`` into ``part``, resuming what ``part``
        holds; returns the bytes fetched now.

        Raises:
            NotRangeable: the server ignores ranges (answers 200).
        """
        fetched, _, _ = self._pull(
            url, part, part.name, length, on_bytes, offset=offset, ranged=True
        )
        return fetched

    def _pull(
        self,
        url: str,
        part: Path,
        label: str,
        total: int | None,
        on_bytes: Callable[[int], None] | None,
        *,
        offset: int = 0,
        ranged: bool = False,
    ) -> tuple[int, int, str | None]:
        import requests
        import urllib3

        fetched = 0
        kept = part.stat().st_size if part.exists() else 0
        checksum: str | None = None
        attempt = 0
        while True:
            have = part.stat().st_size if part.exists() else 0
            if total is not None and have == total:
                return fetched, kept, checksum
            if total is not None and have > total:
                part.unlink()
                continue
            headers = {"x-amz-checksum-mode": "ENABLED", "Accept-Encoding": "identity"}
            if ranged:
                assert total is not None
                headers["Range"] = f"bytes={offset + have}-{offset + total - 1}"
            elif have:
                headers["Range"] = f"bytes={have}-"
            try:
                with self._session().get(
                    url, headers=headers, stream=True, timeout=self.timeout
                ) as response:
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        if attempt >= self.retries:
                            raise RemoteError(
                                f"{label}: the server answered {status} {self.retries + 1} times",
                                "try again later",
                            )
                        self._wait(attempt, _retry_after(response.headers.get("Retry-After")))
                        attempt += 1
                        continue
                    if status == 416 and have and not ranged:
                        # The part file is as long as the object (or longer): check it or restart.
                        size = response.headers.get("Content-Range", "").rpartition("/")[2]
                        if size.isdigit() and int(size) == have:
                            return fetched, kept, checksum
                        part.unlink()
                        continue
                    if status in (401, 403, 404, 410):
                        raise RemoteError(
                            f"{label}: the server answered {status} for {url}",
                            "the HyP3 job has probably expired; run the download again to "
                            "order it anew",
                        )
                    if status not in (200, 206):
                        raise RemoteError(f"{label}: unexpected HTTP {status} from the server")
                    if ranged and status != 206:
                        raise NotRangeable(f"the server answered {status} to a Range request")
                    checksum = _checksum_from(response.headers) or checksum
                    mode = "ab"
                    if status == 206:
                        start, _, size = (
                            response.headers.get("Content-Range", "")
                            .removeprefix("bytes ")
                            .partition("/")
                        )
                        if int(start.split("-")[0]) != offset + have:
                            raise RemoteError(f"{label}: the server resumed at the wrong offset")
                        if size.isdigit() and not ranged:
                            total = int(size)
                    else:
                        mode = "wb"  # the whole object: the range was ignored or not asked for
                        length = response.headers.get("Content-Length")
                        if length and length.isdigit():
                            total = int(length)
                        if have:
                            kept = 0
                    with self.open_part(part, mode) as out:
                        # read1: whatever has arrived, so a dropped connection loses nothing
                        # already received (iter_content would drop its last partial chunk).
                        while block := response.raw.read1(CHUNK):
                            out.write(block)
                            fetched += len(block)
                            if on_bytes is not None:
                                on_bytes(len(block))
                    if total is None:
                        return fetched, kept, checksum
                    continue  # back to the top: whole now, or resume what is missing
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError,  # read1 raises urllib3's own (ProtocolError, ...)
            ) as exc:
                if attempt >= self.retries:
                    raise RemoteError(
                        f"{label}: the connection failed {self.retries + 1} times "
                        f"({type(exc).__name__})",
                        "check the network connection; the next run resumes where this one stopped",
                    ) from None
                log.info("%s: %s, resuming", label, type(exc).__name__)
                self._wait(attempt)
                attempt += 1
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise InputError(
                        f"the disk is full while writing {part}",
                        f"free at least {((total or 0) - have) / 1e6:.0f} MB there; the next run "
                        "resumes the download",
                    ) from None
                raise

    def _verify(self, remote: RemoteFile, part: Path, service_checksum: str | None) -> str | None:
        size = part.stat().st_size if part.exists() else -1
        if remote.size is not None and size != remote.size:
            raise RemoteError(
                f"{remote.path.name}: {size} bytes arrived, the listing says {remote.size}",
                "run the download again",
            )
        checksum = remote.checksum or service_checksum
        if checksum:
            algorithm, _, expected = checksum.partition(":")
            if file_digest(part, algorithm) != expected.lower():
                raise ChecksumMismatchError(
                    f"{remote.path.name}: its {algorithm} checksum does not match the service's",
                    "run the download again; if it persists, the product on the service is damaged",
                )
        check_content(part, remote.path.name)
        return checksum

    # -- many files ----------------------------------------------------------------------------

    def fetch_all(
        self,
        files: Sequence[RemoteFile],
        *,
        workers: int = 4,
        on_bytes: Callable[[int], None] | None = None,
        on_done: Callable[[RemoteFile, Fetched | BaseException], None] | None = None,
    ) -> list[Fetched | BaseException]:
        """Fetch ``files`` with at most ``workers`` at once; per file a result or its error."""

        def one(remote: RemoteFile) -> Fetched | BaseException:
            try:
                result: Fetched | BaseException = self.fetch(remote, on_bytes=on_bytes)
            except (RemoteError, InputError) as exc:
                result = exc
            if on_done is not None:
                on_done(remote, result)
            return result

        with ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="glaciermap-fetch"
        ) as pool:
            return list(pool.map(one, files))


__all__ = [
    "ChecksumMismatchError",
    "Fetched",
    "Fetcher",
    "NotRangeable",
    "RemoteFile",
    "check_content",
    "part_path",
]
