"""Benchmark of the download fetcher against curl, run by hand (figures go into the issue notes).

    .venv/bin/python bench/download.py
    .venv/bin/python bench/download.py --small 300 --small-kb 100 --large 3 --large-mb 200 --workers 4
    .venv/bin/python bench/download.py --smoke     # a few seconds: every figure, tiny sizes (tests)

Side by side in one run, from the same loopback server (the tests' fake bucket, a threaded Python HTTP
server, in a process of its own so that it shares no GIL with the Python client; both clients meet
the same server limits):

* many small files, then a few large ones: wall time of glaciermap's ``Fetcher.fetch_all`` (size and
  S3 sha256 checks included) and of ``curl --parallel`` with the same number of transfers at once
  (no verification); the ratio curl / glaciermap is >= 1 when glaciermap is as fast or faster.
* resuming: a large file whose first transfer is cut half way; bytes the server sent in all against
  the file's size (anything above it was fetched twice).
* ``--members DIR``: for the product zips in DIR (e.g. a `glaciermap simulate` scene), the share of
  their bytes that fetching only the members preprocess reads transfers.

``--smoke`` runs the same rounds with a handful of tiny files (and the member share of two small
products written for it), so that the test suite can check the benchmark still runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.hyp3 import Fault, FileBucket  # noqa: E402
from fakes.server import FakeServer  # noqa: E402

from glaciermap.io.http import Fetcher, RemoteFile  # noqa: E402


def _serve(ready: multiprocessing.Queue, sizes: dict[str, int], cut: dict[str, int]) -> None:
    """The bucket in a child process: files of the given sizes (random bytes), one cut per file in
    ``cut``, and ``/stats`` with the bytes sent so far."""
    from fakes.server import Response

    with FakeServer() as server:
        bucket = FileBucket(server)
        blobs: dict[int, bytes] = {}
        for path, size in sizes.items():
            data = blobs.setdefault(size, os.urandom(size))
            faults = [Fault(cut_after=cut[path])] if path in cut else []
            bucket.put(path, data, faults=faults)
        server.routes[("GET", "/stats")] = lambda request: Response.json(
            {"bytes_sent": bucket.bytes_sent}
        )
        ready.put(server.url)
        ready.get()  # until the parent is done
        time.sleep(0.2)


def _bytes_sent(url: str) -> int:
    with urllib.request.urlopen(f"{url}/stats") as reply:
        return int(json.loads(reply.read())["bytes_sent"])


def _curl(urls: list[str], out: Path, workers: int) -> float:
    config = out / "curl.cfg"
    lines = []
    for i, url in enumerate(urls):
        lines += [f'url = "{url}"', f'output = "{out / f"c{i}.bin"}"']
    config.write_text("\n".join(lines) + "\n")
    began = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--parallel",
            "--parallel-max",
            str(workers),
            "-K",
            str(config),
        ],
        check=True,
        capture_output=True,  # curl --parallel draws a progress meter on stderr even when silent
    )
    return time.perf_counter() - began


def _ours(remotes: list[RemoteFile], workers: int) -> float:
    began = time.perf_counter()
    results = Fetcher().fetch_all(remotes, workers=workers)
    seconds = time.perf_counter() - began
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise SystemExit(f"glaciermap failed: {failed[0]}")
    return seconds


def _round(name: str, base: str, paths: list[str], size: int, workers: int, scratch: Path) -> None:
    urls = [f"{base}{p}" for p in paths]
    remotes = [
        RemoteFile(u, scratch / name / "g" / f"{i}.bin", size=size) for i, u in enumerate(urls)
    ]
    (scratch / name).mkdir(parents=True, exist_ok=True)
    total = size * len(paths)
    curl_s = _curl(urls, scratch / name, workers)
    ours_s = _ours(remotes, workers)
    for i in range(len(paths)):
        assert remotes[i].path.stat().st_size == size
        assert (scratch / name / f"c{i}.bin").stat().st_size == size
    print(
        f"{name:6s} {len(paths)} files, {total / 1e6:.0f} MB, {workers} at once: curl {curl_s:.2f} s "
        f"({total / curl_s / 1e6:.0f} MB/s), glaciermap {ours_s:.2f} s ({total / ours_s / 1e6:.0f} MB/s); "
        f"ratio curl/glaciermap {curl_s / ours_s:.2f}",
        flush=True,
    )
    shutil.rmtree(scratch / name)


def _resume(base: str, path: str, size: int, scratch: Path) -> None:
    before = _bytes_sent(base)
    result = Fetcher(sleep=lambda s: None).fetch(
        RemoteFile(f"{base}{path}", scratch / "resume" / "big.bin", size=size)
    )
    sent = _bytes_sent(base) - before
    print(
        f"resume {size / 1e6:.0f} MB file cut at {size // 2 / 1e6:.0f} MB: the server sent "
        f"{sent / 1e6:.1f} MB in all, {max(0, sent - size)} bytes of them twice; "
        f"{result.bytes_fetched / 1e6:.1f} MB over the network in {2} requests"
    )


def members_share(folder: Path) -> None:
    import zipfile

    from glaciermap.io.hyp3 import members_preprocess_reads, parse_product_name

    totals: dict[str, list[int]] = {}
    for path in sorted(folder.glob("*.zip")):
        name = parse_product_name(path.stem)
        with zipfile.ZipFile(path) as archive:
            needed = members_preprocess_reads(name, archive.namelist())
            part = sum(archive.getinfo(n).compress_size for n in needed)
        kind = name.kind
        entry = totals.setdefault(kind, [0, 0, 0])
        entry[0] += 1
        entry[1] += part
        entry[2] += path.stat().st_size
    for kind, (count, part, whole) in totals.items():
        print(
            f"members {kind:5s} {count} zips, {whole / 1e6:.1f} MB: the needed members are "
            f"{part / 1e6:.1f} MB ({100 * part / whole:.0f} %)"
        )


def _smoke_products(folder: Path) -> Path:
    """Two small product zips (RTC and INSAR), as the tests' fake HyP3 serves them."""
    from fakes.hyp3 import product_zip

    folder.mkdir(parents=True)
    reference = "S1A_IW_SLC__1SDH_20160101T150000_20160101T150027_009000_00A000_1234"
    secondary = "S1A_IW_SLC__1SDH_20160113T150000_20160113T150027_009175_00A0F0_5678"
    product_zip("RTC_GAMMA", [reference], folder)
    product_zip("INSAR_GAMMA", [reference, secondary], folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=300, help="number of small files")
    parser.add_argument("--small-kb", type=int, default=100)
    parser.add_argument("--large", type=int, default=3, help="number of large files")
    parser.add_argument("--large-mb", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--members", type=Path, help="only report the member share of DIR's zips")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, a few seconds: check the benchmark runs"
    )
    args = parser.parse_args()
    if args.members:
        members_share(args.members)
        return
    if args.smoke:
        args.small, args.small_kb, args.large, args.large_mb, args.workers = 8, 20, 2, 1, 2
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed")
    small = [f"/files/small/{i}.bin" for i in range(args.small)]
    large = [f"/files/large/{i}.bin" for i in range(args.large)]
    big = args.large_mb * 1_000_000
    sizes = {p: args.small_kb * 1000 for p in small} | {p: big for p in large}
    sizes["/files/resume/big.bin"] = big
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    child = context.Process(
        target=_serve, args=(ready, sizes, {"/files/resume/big.bin": big // 2}), daemon=True
    )
    child.start()
    scratch = Path(tempfile.mkdtemp(prefix="glaciermap-bench-download-"))
    try:
        base = ready.get(timeout=120)
        _round("small", base, small, args.small_kb * 1000, args.workers, scratch)
        _round("large", base, large, big, args.workers, scratch)
        _resume(base, "/files/resume/big.bin", big, scratch)
        if args.smoke:
            members_share(_smoke_products(scratch / "products"))
    finally:
        ready.put("done")
        child.join(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
