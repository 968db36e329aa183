"""The resumable, verifying fetcher against a fake product bucket with faults."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import zipfile

import pytest
from fakes.hyp3 import Fault, FileBucket, product_zip
from fakes.server import FakeServer

from glaciermap.errors import InputError, RemoteError
from glaciermap.io.http import Fetcher, RemoteFile, part_path

GRANULE = "S1A_IW_SLC__1SDH_20160101T150000_20160101T150027_009000_00A000_1234"


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """A real RTC product zip (about 100 kB)."""
    path = product_zip("RTC_GAMMA", [GRANULE], tmp_path_factory.mktemp("product"))
    return path.name, path.read_bytes()


@pytest.fixture
def bucket():
    with FakeServer() as server:
        yield FileBucket(server)


@pytest.fixture
def waits():
    return []


@pytest.fixture
def fetcher(waits):
    return Fetcher(sleep=waits.append, backoff=0.5, timeout=10)


def _remote(bucket, tmp_path, product, **kwargs):
    name, data = product
    url = bucket.put(f"/files/job/{name}", data, **kwargs)
    return RemoteFile(url, tmp_path / "raw" / name, size=len(data))


def test_a_clean_fetch_is_verified_by_size_checksum_and_content(bucket, fetcher, tmp_path, product):
    remote = _remote(bucket, tmp_path, product)
    result = fetcher.fetch(remote)
    assert remote.path.read_bytes() == product[1]
    assert result.checksum == "sha256:" + hashlib.sha256(product[1]).hexdigest()
    assert result.bytes_fetched == len(product[1]) and result.resumed_from == 0
    assert not part_path(remote.path).exists()


def test_a_dropped_connection_resumes_instead_of_restarting(bucket, fetcher, tmp_path, product):
    half = len(product[1]) // 2
    remote = _remote(bucket, tmp_path, product, faults=[Fault(cut_after=half)])
    result = fetcher.fetch(remote)
    assert remote.path.read_bytes() == product[1]
    ranges = [r.headers.get("Range") for r in bucket.server.log]
    assert ranges == [None, f"bytes={half}-"]
    # Nothing travelled twice.
    assert bucket.bytes_sent == len(product[1]) and result.bytes_fetched == len(product[1])


def test_a_part_file_from_an_interrupted_run_is_resumed(bucket, fetcher, tmp_path, product):
    remote = _remote(bucket, tmp_path, product)
    remote.path.parent.mkdir(parents=True)
    part_path(remote.path).write_bytes(product[1][:1000])
    result = fetcher.fetch(remote)
    assert result.resumed_from == 1000 and result.bytes_fetched == len(product[1]) - 1000
    assert remote.path.read_bytes() == product[1]


def test_500_then_success_and_429_with_retry_after(bucket, fetcher, waits, tmp_path, product):
    remote = _remote(
        bucket,
        tmp_path,
        product,
        faults=[Fault(status=500, times=2), Fault(status=429, retry_after="7")],
    )
    fetcher.fetch(remote)
    assert remote.path.read_bytes() == product[1]
    assert waits == [0.5, 1.0, 7.0]


def test_a_checksum_mismatch_is_fetched_again_then_an_error(bucket, fetcher, tmp_path, product):
    remote = _remote(bucket, tmp_path, product, faults=[Fault(corrupt=True)])
    fetcher.fetch(remote)  # once corrupt, then whole
    assert remote.path.read_bytes() == product[1]
    assert len(bucket.server.log) == 2

    other = tmp_path / "again"
    remote = RemoteFile(remote.url, other / product[0], size=len(product[1]))
    bucket.files[f"/files/job/{product[0]}"].faults = [Fault(corrupt=True, times=5)]
    with pytest.raises(RemoteError, match="checksum does not match"):
        fetcher.fetch(remote)
    assert not remote.path.exists() and not part_path(remote.path).exists()


@pytest.mark.parametrize("header", ["md5", "etag"])
def test_md5_checksums_from_headers(bucket, fetcher, tmp_path, product, header):
    remote = _remote(
        bucket, tmp_path, product, checksum_header=header, faults=[Fault(corrupt=True, times=3)]
    )
    with pytest.raises(RemoteError, match="md5 checksum"):
        fetcher.fetch(remote)
    assert not remote.path.exists()


def test_without_a_checksum_a_broken_zip_is_caught_by_its_crc(bucket, fetcher, tmp_path, product):
    # Flip a byte inside a member's compressed data: size right, no service checksum, CRC wrong.
    data = bytearray(product[1])
    with zipfile.ZipFile(io.BytesIO(product[1])) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("_ls_map.tif.xml"))
    data[info.header_offset + 30 + len(info.filename) + 5] ^= 0xFF
    url = bucket.put(f"/files/job/{product[0]}", bytes(data), checksum_header="none")
    remote = RemoteFile(url, tmp_path / product[0], size=len(data))
    with pytest.raises(RemoteError, match=r"not a valid zip \(Error -3|fails its CRC check"):
        fetcher.fetch(remote)
    assert not remote.path.exists() and not part_path(remote.path).exists()


def test_an_expired_product_is_a_clear_error(bucket, fetcher, tmp_path, product):
    remote = RemoteFile(f"{bucket.server.url}/files/gone/x.zip", tmp_path / "x.zip", size=10)
    with pytest.raises(RemoteError, match="expired"):
        fetcher.fetch(remote)
    assert not remote.path.exists()


def test_a_full_disk_keeps_the_part_for_later_and_nothing_final(bucket, fetcher, tmp_path, product):
    remote = _remote(bucket, tmp_path, product)
    limit = 20_000

    class FullDisk(io.FileIO):
        def write(self, block):
            room = limit - self.tell()
            if len(block) > room:  # as a real disk: what fits is written, then ENOSPC
                super().write(bytes(block[:room]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(block)

    fetcher.open_part = lambda path, mode: FullDisk(path, mode.replace("b", ""))
    with pytest.raises(InputError, match="disk is full"):
        fetcher.fetch(remote)
    assert not remote.path.exists()
    assert part_path(remote.path).stat().st_size <= limit
    # Space freed: the next run resumes from the part file.
    fetcher.open_part = lambda path, mode: path.open(mode)
    result = fetcher.fetch(remote)
    assert result.resumed_from > 0 and remote.path.read_bytes() == product[1]


def test_many_files_in_parallel(bucket, tmp_path, product):
    remotes = []
    for i in range(12):
        url = bucket.put(f"/files/job{i}/{product[0]}", product[1])
        remotes.append(RemoteFile(url, tmp_path / f"j{i}" / product[0], size=len(product[1])))
    results = Fetcher().fetch_all(remotes, workers=4)
    assert all(not isinstance(r, BaseException) for r in results)
    assert all(r.path.read_bytes() == product[1] for r in remotes)


# ----------------------------------------------------------------------------------------------------
# Members of a remote zip


def test_members_only_the_needed_ones_resumed_and_crc_checked(bucket, fetcher, tmp_path, product):
    from glaciermap.download.members import fetch_members
    from glaciermap.io.hyp3 import open_product

    name, data = product
    url = bucket.put(f"/files/job/{name}", data)
    target = tmp_path / "raw" / name.removesuffix(".zip")
    result = fetch_members(fetcher, url, len(data), target)
    assert result.folder == target and open_product(target).co_pol == "HH"
    assert sorted(p.name.removeprefix(target.name) for p in target.iterdir()) == [
        ".README.md.txt",
        "_HH.tif",
        "_ls_map.tif",
    ]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in result.members:
            assert (target / member.split("/")[1]).read_bytes() == archive.read(member)
    assert bucket.bytes_sent == result.bytes_fetched < len(data)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # nothing hidden left

    # A connection dropped inside a member: that member resumes where it stopped.
    again = tmp_path / "again" / target.name
    bucket.files[f"/files/job/{name}"].faults = [Fault(), Fault(), Fault(cut_after=100)]
    before = bucket.bytes_sent
    fetch_members(fetcher, url, len(data), again)
    assert open_product(again).co_pol == "HH"
    ranges = [r.headers.get("Range") for r in bucket.server.log[-6:]]
    resumed = [r for r in ranges if r]
    assert len(resumed) == len(set(resumed)), "no range asked twice"
    assert bucket.bytes_sent - before == result.bytes_fetched


def test_a_damaged_member_is_an_error_and_nothing_final(bucket, fetcher, tmp_path, product):
    from glaciermap.download.members import fetch_members

    name, data = product
    url = bucket.put(f"/files/job/{name}", data)
    # The tail and the first local header arrive intact; the first member's bytes are corrupted.
    bucket.files[f"/files/job/{name}"].faults = [Fault(), Fault(), Fault(corrupt=True)]
    target = tmp_path / "raw" / name.removesuffix(".zip")
    with pytest.raises(RemoteError, match="CRC"):
        fetch_members(fetcher, url, len(data), target)
    assert not target.exists()


def test_without_ranges_the_caller_is_told_to_fetch_the_zip(bucket, fetcher, tmp_path, product):
    from glaciermap.download.members import fetch_members
    from glaciermap.io.http import NotRangeable

    name, data = product
    url = bucket.put(f"/files/job/{name}", data, ranges=False)
    with pytest.raises(NotRangeable):
        fetch_members(fetcher, url, len(data), tmp_path / name.removesuffix(".zip"))
