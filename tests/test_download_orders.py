"""HyP3 ordering through the real hyp3_sdk against a fake HyP3 API on 127.0.0.1."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("hyp3_sdk")

from fakes.hyp3 import FakeHyP3, FileBucket
from fakes.server import FakeServer

from glaciermap.catalog import Catalog
from glaciermap.download.auth import Credentials, connect, find_credentials
from glaciermap.download.orders import (
    INSAR_JOB,
    RTC_JOB,
    Orders,
    job_name,
    wanted_products,
)
from glaciermap.download.plan import plan_year
from glaciermap.errors import AuthError, RemoteError
from glaciermap.regions import BUILTIN_REGIONS
from glaciermap.simulate.catalogue import simulated_scenes

REGION = BUILTIN_REGIONS["synthetic"]


@pytest.fixture(scope="module")
def products():
    plan = plan_year(REGION, 2016, simulated_scenes(REGION, 2016, seed=2016), acquisitions=3)
    return wanted_products(plan)


@pytest.fixture
def hyp3_service():
    with FakeServer() as api, FakeServer() as files:
        yield FakeHyP3(api, FileBucket(files))


@pytest.fixture
def orders(hyp3_service, tmp_path):
    client = connect(Credentials("EARTHDATA_TOKEN", token="test-token"), hyp3_service.api.url)
    catalog = Catalog(tmp_path / "catalog.sqlite")
    yield Orders(client, catalog, "synthetic", 2016)
    catalog.close()


def test_products_cover_every_reference_and_pair(products):
    rtc = [p for p in products if p.job_type == RTC_JOB]
    insar = [p for p in products if p.job_type == INSAR_JOB]
    assert len(rtc) == 6 and len(insar) == 6  # 3 slots x 2 stripes, one frame each, all partnered
    assert {p.slot for p in products} == {8, 9, 10}
    assert all(len(p.granules) == 2 for p in insar)
    prepared = rtc[0].prepared(job_name("synthetic", 2016, rtc[0].slot))
    assert prepared["job_type"] == "RTC_GAMMA"
    assert prepared["name"] == "glaciermap-synthetic-2016-s09"
    params = prepared["job_parameters"]
    assert (
        params["resolution"] == 10
        and params["radiometry"] == "gamma0"
        and params["scale"] == "power"
    )
    assert insar[0].prepared("x")["job_parameters"]["looks"] == "10x2"


def test_order_once_find_by_name_and_never_twice(orders, hyp3_service, products):
    states = orders.survey(products)
    assert {s.state for s in states} == {"missing"}
    assert orders.cost(states) == 6 * 60 + 6 * 15
    submitted = orders.submit(states)
    assert len(submitted) == 12 and len(hyp3_service.jobs) == 12
    assert hyp3_service.credits == 10_000 - 450
    assert {j["name"] for j in hyp3_service.jobs.values()} == {
        "glaciermap-synthetic-2016-s09",
        "glaciermap-synthetic-2016-s10",
        "glaciermap-synthetic-2016-s11",
    }
    # A second run (a new Orders, as after a restart) finds the jobs by name and orders nothing.
    again = Orders(orders.hyp3, orders.catalog, "synthetic", 2016)
    states = again.survey(products)
    assert {s.state for s in states} == {"running"}
    assert again.submit(states) == []
    hyp3_service.finish()
    states = again.survey(products)
    assert {s.state for s in states} == {"succeeded"}
    assert again.submit(states) == [] and len(hyp3_service.submissions) == 1
    rows = orders.catalog.execute("SELECT status, name FROM jobs").fetchall()
    assert len(rows) == 12 and {r[0] for r in rows} == {"SUCCEEDED"}


def test_failed_jobs_are_resubmitted_a_bounded_number_of_times(orders, hyp3_service, products):
    hyp3_service.auto_advance = True
    flaky, doomed = products[0], products[1]
    hyp3_service.fail_next[flaky.key] = 1  # fails once, then succeeds
    hyp3_service.fail_next[doomed.key] = 99  # always fails
    states = orders.survey(products[:2])
    orders.submit(states)
    orders.watch(states, interval=0, sleep=lambda s: None)
    by_key = {s.product.key: s for s in states}
    assert by_key[flaky.key].state == "succeeded" and by_key[flaky.key].attempts == 2
    assert by_key[doomed.key].state == "given-up" and by_key[doomed.key].attempts == 3
    counts = {}
    for job in hyp3_service.jobs.values():
        key = (job["job_type"], tuple(job["job_parameters"]["granules"]))
        counts[key] = counts.get(key, 0) + 1
    assert counts == {flaky.key: 2, doomed.key: 3}
    # A later run does not try the given-up product again.
    later = Orders(orders.hyp3, orders.catalog, "synthetic", 2016).survey(products[:2])
    assert {s.product.key: s.state for s in later}[doomed.key] == "given-up"


def test_expired_jobs_are_ordered_again_unless_already_fetched(orders, hyp3_service, products):
    orders.submit(orders.survey(products[:2]))
    hyp3_service.finish()
    first_id = next(iter(hyp3_service.jobs))
    hyp3_service.expire(first_id)
    states = orders.survey(products[:2])
    assert sorted(s.state for s in states) == ["expired", "succeeded"]
    expired = next(s for s in states if s.state == "expired")
    fetched = orders.survey(products[:2], fetched={expired.product.key})
    assert {s.state for s in fetched} == {"succeeded"}
    assert len(orders.submit(states)) == 1 and len(hyp3_service.jobs) == 3


def test_a_credit_shortfall_orders_nothing_and_says_the_numbers(orders, hyp3_service, products):
    hyp3_service.credits = 100.0
    with pytest.raises(RemoteError, match=r"need 450 credits, 100 left"):
        orders.submit(orders.survey(products))
    assert hyp3_service.jobs == {}


def test_a_401_names_the_three_ways_to_log_in(hyp3_service, tmp_path, products):
    client = connect(Credentials("EARTHDATA_TOKEN", token="wrong-secret"), hyp3_service.api.url)
    catalog = Catalog(tmp_path / "c.sqlite")
    with pytest.raises(AuthError) as info:
        Orders(client, catalog, "synthetic", 2016).survey(products)
    text = str(info.value)
    assert "EARTHDATA_TOKEN" in text and ".netrc" in text and "interactively" in text
    assert "wrong-secret" not in text
    assert hyp3_service.jobs == {}
    catalog.close()


def test_netrc_login_through_the_oauth_redirect(hyp3_service, tmp_path, monkeypatch):
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    monkeypatch.setattr("hyp3_sdk.util.AUTH_URL", f"{hyp3_service.api.url}/oauth")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine urs.earthdata.nasa.gov login tester password test-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    credentials = find_credentials(interactive=False)
    assert credentials.source == "~/.netrc" and "test-password" not in repr(credentials)
    client = connect(credentials, hyp3_service.api.url)
    assert client.credits() == 10_000
    netrc.write_text("machine urs.earthdata.nasa.gov login tester password nope\n")
    with pytest.raises(AuthError, match="refused"):
        connect(find_credentials(interactive=False), hyp3_service.api.url)


def test_no_credentials_at_all(monkeypatch, tmp_path):
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with pytest.raises(AuthError, match="no Earthdata Login credentials"):
        find_credentials(interactive=False)


def test_recorded_hyp3_responses_read_as_the_fake_writes_them(shared_data, tmp_path):
    """The documented job listing parses through hyp3_sdk into files to fetch; the fake's 401 body
    is the documented one."""
    import json

    from fakes.hyp3 import UNAUTHORISED

    from glaciermap.download.orders import OrderState, Product
    from glaciermap.download.run import files_to_fetch
    from glaciermap.io.hyp3.api import job_from_dict
    from glaciermap.workspace import Workspace

    folder = shared_data / "hyp3"
    assert json.loads((folder / "hyp3-docs_api_L44.json").read_text()) == UNAUTHORISED
    listing = json.loads((folder / "hyp3-docs_api_L295.json").read_text())
    job = job_from_dict(listing["jobs"][0])
    assert job.status_code == "SUCCEEDED" and job.job_type == "RTC_GAMMA"
    workspace = Workspace.open(tmp_path / "ws")
    catalog = workspace.catalog()
    state = OrderState(Product("RTC_GAMMA", job.granules, 0), "succeeded", job)
    wanted, skipped = files_to_fetch([state], catalog, workspace, tmp_path / "ws" / "raw")
    catalog.close()
    ((remote, job_id),) = wanted
    assert remote.path.name == "S1A_IW_20150621T120220_SVP_RTC30_G_gpuned_0AEA.zip"
    assert remote.size == 28676279 and job_id == "20c377be-2511-46a8-b908-e015abd3c24e"
    assert remote.url.startswith("https://hyp3-contentbucket") and skipped == 0


def test_the_prompt_only_when_interactive(monkeypatch, tmp_path):
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "typed-token")
    credentials = find_credentials(interactive=True)
    assert credentials.source == "prompt" and credentials.token == "typed-token"
    assert "typed-token" not in repr(credentials) and len(asked) == 1
    # Under cron stdin is no terminal: never ask.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(AuthError):
        find_credentials()
    assert len(asked) == 1
