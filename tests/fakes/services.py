"""The fake CMR, HyP3 API and bucket together, with the environment pointed at them: what the real
asf_search and hyp3_sdk code paths of ``download`` and ``run`` talk to in the tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .cmr import FakeCMR
from .hyp3 import FakeHyP3, FileBucket
from .server import FakeServer, ca_bundle


@contextmanager
def fake_services(
    tmp_path: Path, monkeypatch: Any, scenes: Sequence[Any], *, token: str, **hyp3_options: Any
) -> Iterator[tuple[FakeServer, FakeHyP3, tuple[FakeServer, FakeServer, FakeServer]]]:
    """``(cmr, hyp3, (cmr, api, files))``: CMR over HTTPS with a test CA listing ``scenes``, HyP3
    taking ``token``, no error reports to ASF, no netrc, and no real sleeping."""
    import asf_search
    import trustme

    monkeypatch.setattr(asf_search, "REPORT_ERRORS", False)
    ca = trustme.CA()
    bundle = str(ca_bundle(ca, tmp_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", bundle)
    monkeypatch.setenv("EARTHDATA_TOKEN", token)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setattr("time.sleep", lambda s: None)
    with FakeServer(tls=ca) as cmr, FakeServer() as api, FakeServer() as files:
        FakeCMR(cmr, scenes)
        hyp3 = FakeHyP3(api, FileBucket(files), token=token, **hyp3_options)
        yield cmr, hyp3, (cmr, api, files)
