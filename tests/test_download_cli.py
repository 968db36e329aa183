"""`glaciermap download` end to end: real asf_search and hyp3_sdk against fakes on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

asf_search = pytest.importorskip("asf_search")
trustme = pytest.importorskip("trustme")

from fakes.hyp3 import Fault  # noqa: E402
from fakes.services import fake_services  # noqa: E402

from glaciermap.io.hyp3 import open_product  # noqa: E402
from glaciermap.regions import BUILTIN_REGIONS  # noqa: E402
from glaciermap.simulate.catalogue import simulated_scenes  # noqa: E402

TOKEN = "EDL-SECRET-TOKEN-0123456789"
REGION = BUILTIN_REGIONS["synthetic"]


@pytest.fixture(scope="module")
def scenes():
    return simulated_scenes(REGION, 2016, seed=2016)


@pytest.fixture
def services(tmp_path, monkeypatch, scenes):
    with fake_services(tmp_path, monkeypatch, scenes, token=TOKEN, auto_advance=True) as served:
        cmr, hyp3, _ = served
        yield cmr, hyp3


def _args(services, *more):
    cmr, hyp3 = services
    return (
        "download",
        "--region",
        "synthetic",
        "--year",
        "2016",
        "--search-host",
        cmr.host,
        "--hyp3-url",
        hyp3.api.url,
        "--poll",
        "0",
        *more,
    )


def test_dry_run_prints_the_plan_and_orders_nothing(run_cli, services):
    result = run_cli(*_args(services, "--dry-run"))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "synthetic 2016" in out and "AOI coverage" in out
    assert "missing slots: 13" in out  # the simulated year lost slot 13 (index 12)
    assert "75.1 %" in out  # slot 6 lost one of its two stripes
    assert services[1].jobs == {}


def test_a_run_orders_waits_fetches_and_a_second_run_does_nothing(run_cli, services, tmp_path):
    _, hyp3 = services
    result = run_cli(*_args(services, "--acquisitions", "3", "--watch"))
    assert result.exit_code == 0, result.stderr
    assert "12 ordered now" in result.stdout and "12 fetched" in result.stdout
    raw = tmp_path / "workspace" / "raw" / "synthetic" / "2016"
    products = sorted(raw.iterdir())
    # Only the members preprocess reads, as unpacked product folders; nothing hidden left behind.
    assert len(products) == 12 and all(p.is_dir() and not p.name.startswith(".") for p in products)
    for folder in products:
        product = open_product(folder)
        suffixes = sorted(f.name[len(product.base) :] for f in folder.iterdir())
        if product.kind == "RTC":
            assert suffixes == [".README.md.txt", "_HH.tif", "_ls_map.tif"]
        else:
            assert suffixes == [".README.md.txt", "_corr.tif"]
    zip_bytes = sum(f["size"] for j in hyp3.jobs.values() for f in j["files"])
    assert hyp3.bucket.bytes_sent < 0.8 * zip_bytes
    sent, submissions = hyp3.bucket.bytes_sent, len(hyp3.submissions)

    again = run_cli(*_args(services, "--acquisitions", "3", "--watch"))
    assert again.exit_code == 0, again.stderr
    assert "0 ordered now" in again.stdout and "0 fetched" in again.stdout
    assert "12 already verified" in again.stdout
    assert hyp3.bucket.bytes_sent == sent and len(hyp3.submissions) == submissions

    status = run_cli("download", "--region", "synthetic", "--year", "2016", "--status")
    assert status.exit_code == 0, status.stderr
    assert "12 verified" in status.stdout


def test_without_watch_the_run_orders_and_says_to_come_back(run_cli, services):
    _, hyp3 = services
    hyp3.auto_advance = False
    result = run_cli(*_args(services, "--acquisitions", "1"))
    assert result.exit_code == 0, result.stderr
    assert "4 ordered now" in result.stdout and "still running" in result.stdout
    hyp3.finish()
    result = run_cli(*_args(services, "--acquisitions", "1"))
    assert "0 ordered now" in result.stdout and "4 fetched" in result.stdout


def test_a_file_that_keeps_failing_is_one_error_and_nothing_partial_is_final(
    run_cli, services, tmp_path
):
    _, hyp3 = services
    first = run_cli(*_args(services, "--acquisitions", "1"))  # orders; jobs advance when read
    assert first.exit_code == 0
    hyp3.finish()
    for path, stored in hyp3.bucket.files.items():
        if path.endswith(".zip"):
            stored.faults = [Fault(status=503, times=50)]
            break
    result = run_cli(*_args(services, "--acquisitions", "1", "--watch"))
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not be fetched" in errors[0] and "503" in errors[0]
    assert "Traceback" not in result.stderr
    raw = tmp_path / "workspace" / "raw" / "synthetic" / "2016"
    assert len([p for p in raw.iterdir() if not p.name.startswith(".")]) == 3
    assert all(p.is_dir() for p in raw.iterdir() if not p.name.startswith("."))


def test_bad_credentials_are_one_line_naming_the_ways_and_never_the_token(
    run_cli, services, monkeypatch, tmp_path
):
    monkeypatch.setenv("EARTHDATA_TOKEN", "not-the-token-" + TOKEN[::-1])
    result = run_cli("--verbose", *_args(services, "--acquisitions", "1"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert "EARTHDATA_TOKEN" in lines[-1] and ".netrc" in lines[-1]
    assert TOKEN[::-1] not in result.stderr + result.stdout


def test_the_token_never_reaches_logs_or_the_catalog(run_cli, services, tmp_path):
    result = run_cli("--verbose", *_args(services, "--acquisitions", "1", "--watch"))
    assert result.exit_code == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    for path in (tmp_path / "workspace").rglob("catalog.sqlite*"):
        assert TOKEN.encode() not in path.read_bytes()


def test_no_credentials_anywhere(run_cli, services, monkeypatch):
    monkeypatch.delenv("EARTHDATA_TOKEN")
    result = run_cli(*_args(services, "--acquisitions", "1"))
    assert result.exit_code == 2
    assert "no Earthdata Login credentials" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_import_registers_products_fetched_by_hand(run_cli, services, tmp_path):
    from fakes.hyp3 import product_zip

    hand = tmp_path / "by-hand"
    hand.mkdir()
    granule = "S1A_IW_SLC__1SDH_20160101T150000_20160101T150027_009000_00A000_1234"
    made = product_zip("RTC_GAMMA", [granule], hand)
    result = run_cli("download", "--region", "synthetic", "--year", "2016", "--import", hand)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "workspace" / "raw" / "synthetic" / "2016" / made.name).is_file()
    status = run_cli("download", "--region", "synthetic", "--year", "2016", "--status")
    assert "1 imported" in status.stdout
    (hand / "broken.zip").write_bytes(b"not a zip")
    (hand / "S1A_IW_20160113T150000_DHP_RTC10_G_gpuned_0000.zip").write_bytes(b"PK\x03\x04 broken")
    result = run_cli("download", "--region", "synthetic", "--year", "2016", "--import", hand)
    assert result.exit_code == 2 and "cannot be imported" in result.stderr


def test_whole_zips_and_servers_without_ranges_get_the_zip(run_cli, services, tmp_path):
    _, hyp3 = services
    result = run_cli(*_args(services, "--acquisitions", "1", "--watch", "--whole-zips"))
    assert result.exit_code == 0, result.stderr
    raw = tmp_path / "workspace" / "raw" / "synthetic" / "2016"
    assert sorted(p.suffix for p in raw.iterdir()) == [".zip"] * 4
    for stored in hyp3.bucket.files.values():
        stored.ranges = False
    for product in raw.iterdir():
        product.unlink()
    result = run_cli(*_args(services, "--acquisitions", "1", "--watch"))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.suffix for p in raw.iterdir() if not p.name.startswith(".")) == [".zip"] * 4


def test_downloaded_products_feed_preprocess(run_cli, services, tmp_path, monkeypatch):
    """download -> preprocess in one workspace: the fetched member folders are products preprocess
    reads (the fake's products lie inside the `example` region)."""
    cmr, hyp3 = services
    from fakes.cmr import FakeCMR as _FakeCMR

    _FakeCMR(cmr, simulated_scenes(BUILTIN_REGIONS["example"], 2016, seed=0))  # replaces the route
    args = ["download", "-r", "example", "-y", "2016", "--search-host", cmr.host]
    args += ["--hyp3-url", hyp3.api.url, "--poll", "0", "--watch", "--acquisitions", "3"]
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    result = run_cli("preprocess", "-r", "example", "-y", "2016")
    assert result.exit_code == 0, result.stderr
    assert "6 RTC and 6 INSAR products" in result.stderr + result.stdout
    stack = tmp_path / "workspace" / "stacks" / "example" / "2016"
    assert (stack / "stack.vrt").is_file() and (stack / "stack.json").is_file()


@pytest.mark.parametrize("dry_run", [True, False])
def test_without_network_the_search_is_one_line_naming_what_works_offline(
    run_cli, monkeypatch, tmp_path, dry_run
):
    monkeypatch.setattr(asf_search, "REPORT_ERRORS", False)
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with socket.socket() as probe:  # a port nothing listens on: refused, as without a network
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    args = ["download", "--region", "synthetic", "--year", "2016", "--search-host", closed]
    result = run_cli(*args, *(["--dry-run"] if dry_run else []))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "search service cannot be reached" in lines[0] and "connection refused" in lines[0]
    assert "`glaciermap simulate`" in lines[0] and "`glaciermap download --import DIR`" in lines[0]
    assert TOKEN not in result.stdout + result.stderr


def test_the_default_hyp3_api_is_the_library_s():
    from glaciermap.cli.download import HYP3_API
    from glaciermap.io.hyp3.api import PRODUCTION_API

    assert HYP3_API == PRODUCTION_API
