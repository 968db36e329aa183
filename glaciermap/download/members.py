"""Fetch only the members of a remote product zip the pipeline reads, with HTTP Range requests.

A HyP3 RTC zip holds every polarisation, the layover-shadow map, browse images, metadata and
optional layers; ``preprocess`` reads only a few of them (which ones is
:func:`glaciermap.io.hyp3.members_preprocess_reads`'s to say). When the server honours ``Range``
requests, the zip's central directory is read from its tail (a few kB) and only those members'
compressed bytes are fetched, each resumably into a part file, inflated while its CRC-32 is computed,
and checked against the zip's CRC and size. The members land in a hidden folder that is renamed to
``<base>/`` (an unpacked product folder, which ``preprocess`` reads like the zip) only when all are
whole and the folder opens as a HyP3 product.

When the server ignores ranges, or a member uses a compression other than stored or deflate, the
caller fetches the whole zip instead (:class:`NotRangeable`).
"""

from __future__ import annotations

import io
import logging
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glaciermap.errors import InputError, RemoteError
from glaciermap.io.http import CHUNK, Fetcher, NotRangeable, check_content
from glaciermap.io.hyp3 import members_preprocess_reads, parse_product_name, product_folder_problem

log = logging.getLogger(__name__)

TAIL = (
    8 * 1024
)  # first read from the end of the zip: a product's central directory (~30 members) fits


def _needed_members(base: str, names: list[str]) -> list[str]:
    """The members of ``<base>.zip`` (listed as ``names``) that preprocess reads.

    Raises:
        InputError: ``base`` is not a HyP3 product name.
        NotRangeable: the zip lacks a raster preprocess reads (the whole zip shows what it holds).
    """
    name = parse_product_name(base)
    try:
        return members_preprocess_reads(name, names)
    except InputError as exc:
        raise NotRangeable(exc.message) from None


class _NeedMore(Exception):  # noqa: N818
    """zipfile wants bytes before the tail read so far (from ``position`` on)."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


class _RemoteZip(io.RawIOBase):
    """The tail of a remote zip as a seekable file: enough for zipfile to read the directory."""

    def __init__(self, size: int, tail: bytes) -> None:
        self.size = size
        self.tail = tail
        self.start = size - len(tail)
        self.position = 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: offset, 1: self.position + offset, 2: self.size + offset}[whence]
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        if self.position < self.start:
            raise _NeedMore(self.position)
        chunk = self.tail[self.position - self.start : self.position - self.start + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


@dataclass(frozen=True)
class MemberResult:
    folder: Path
    bytes_fetched: int
    members: tuple[str, ...]


def _small_range(fetcher: Fetcher, url: str, first: int, length: int, scratch: Path) -> bytes:
    """A few bytes of ``url`` (with the fetcher's retries), through a scratch part file."""
    scratch.unlink(missing_ok=True)
    fetcher.fetch_range(url, first, length, scratch)
    data = scratch.read_bytes()
    scratch.unlink()
    return data


def fetch_members(
    fetcher: Fetcher,
    url: str,
    size: int,
    target: Path,
    on_bytes: Callable[[int], None] | None = None,
) -> MemberResult:
    """Fetch the needed members of the zip at ``url`` (``size`` bytes) into the folder ``target``
    (``raw/.../<base>``), which appears only when complete.

    Raises:
        NotRangeable: fetch the whole zip instead.
        RemoteError: a member is damaged (CRC or size), or the transfer failed for good.
    """
    base = target.name
    # <raw>/.<base>.partial/<base>/: named as the product (open_product reads the name from the
    # folder) inside a hidden folder that preprocess skips.
    work = target.with_name(f".{base}.partial") / base
    work.mkdir(parents=True, exist_ok=True)
    scratch = work.parent / ".range.part"
    first = max(0, size - TAIL)
    tail = _small_range(fetcher, url, first, size - first, scratch)
    for _ in range(3):  # the directory is read from the tail; more of it if it is longer
        try:
            archive = zipfile.ZipFile(_RemoteZip(size, tail))
            break
        except _NeedMore as more:
            start = max(0, more.position - 1024)
            tail = _small_range(fetcher, url, start, first - start, scratch) + tail
            first = start
        except zipfile.BadZipFile as exc:
            raise RemoteError(f"{base}.zip on the server is not a valid zip ({exc})") from None
    else:
        raise NotRangeable(f"{base}: the zip's directory could not be located from its end")
    infos = {info.filename: info for info in archive.infolist()}
    members = _needed_members(base, list(infos))
    if any(
        infos[m].compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for m in members
    ):
        raise NotRangeable(f"{base}: a member uses an unsupported compression")

    fetched = len(tail)
    for member in members:
        info = infos[member]
        out = work / Path(member).name
        if out.is_file() and out.stat().st_size == info.file_size:
            continue  # inflated and checked by an earlier run
        header = _small_range(fetcher, url, info.header_offset, 30, scratch)
        signature, *_, name_length, extra_length = struct.unpack("<IHHHHHIIIHH", header)
        if signature != 0x04034B50:
            raise RemoteError(
                f"{base}.zip: member {member} has no local header where the directory says"
            )
        start = info.header_offset + 30 + name_length + extra_length
        raw = work / f".{Path(member).name}.deflated.part"
        fetched += len(header) + fetcher.fetch_range(url, start, info.compress_size, raw, on_bytes)
        _inflate(raw, out, info, base)
        raw.unlink()
    for member in members:
        check_content(work / Path(member).name, Path(member).name)
    problem = product_folder_problem(work)
    if problem is not None:
        raise RemoteError(f"{base}: the fetched members do not form a product ({problem})")
    if target.exists():
        shutil.rmtree(target)
    work.replace(target)
    work.parent.rmdir()
    return MemberResult(target, fetched, tuple(members))


def _inflate(raw: Path, out: Path, info: zipfile.ZipInfo, base: str) -> None:
    """Decompress a member's bytes into ``out`` (via a temporary name), checking CRC-32 and size."""
    temporary = out.with_name(f".{out.name}.part")
    decompressor = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    try:
        crc, written = _inflate_into(raw, temporary, decompressor)
    except zlib.error:
        crc, written = -1, -1  # not even valid deflate data: damaged as surely as a CRC mismatch
    if crc != info.CRC or written != info.file_size:
        temporary.unlink(missing_ok=True)
        raw.unlink()
        raise RemoteError(
            f"{base}.zip: member {Path(info.filename).name} fails its CRC check",
            "run the download again; if it persists, the product on the service is damaged",
        )
    temporary.replace(out)


def _inflate_into(raw: Path, temporary: Path, decompressor: Any) -> tuple[int, int]:
    crc = 0
    written = 0
    with raw.open("rb") as source, temporary.open("wb") as sink:
        for block in iter(lambda: source.read(CHUNK), b""):
            data = decompressor.decompress(block) if decompressor else block
            crc = zlib.crc32(data, crc)
            written += len(data)
            sink.write(data)
        if decompressor:
            rest = decompressor.flush()
            crc = zlib.crc32(rest, crc)
            written += len(rest)
            sink.write(rest)
    return crc, written


__all__ = ["MemberResult", "NotRangeable", "fetch_members"]
