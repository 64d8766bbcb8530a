"""The report channel's listener: a real HTTP server on loopback that takes a guest's report
for a nonce a run expects, and nothing else — and the guest script really posts to it."""

from __future__ import annotations

import subprocess

import pytest
import requests

from probes.guest.report import read
from probes.guest.script import user_data
from probes.runner.inbox import MAX_REPORT, check_url, listener

NONCE = "0123456789abcdef0123456789abcdef"


def test_only_an_expected_nonce_is_taken_and_only_until_forgotten() -> None:
    with listener("127.0.0.1:0") as ch:
        assert ch.url.startswith("http://127.0.0.1:")
        url = ch.post_url(NONCE)
        assert requests.post(url, data=b"x", timeout=5).status_code == 404  # not expected
        ch.inbox.expect(NONCE)
        assert ch.inbox.take(NONCE) is None
        assert requests.post(url, data=b"FPR report", timeout=5).status_code == 204
        assert ch.inbox.take(NONCE) == "FPR report"
        assert requests.get(url, timeout=5).status_code == 405
        assert requests.post(ch.post_url("not-a-nonce"), timeout=5).status_code == 404
        big = requests.post(url, data=b"x" * (MAX_REPORT + 1), timeout=5)
        assert big.status_code == 413 and ch.inbox.take(NONCE) == "FPR report"
        ch.inbox.forget(NONCE)
        assert ch.inbox.take(NONCE) is None
        assert requests.post(url, data=b"late", timeout=5).status_code == 404


def test_the_advertised_url_is_what_the_guest_is_told() -> None:
    with listener("[::1]:0", "http://probe.example.org:8123/nat") as ch:
        assert ch.post_url(NONCE) == f"http://probe.example.org:8123/nat/fedprobe/report/{NONCE}"
    for bad in ("ftp://x", "http://", "http://a b", "http://x/'y", "http://x/?q=1"):
        with pytest.raises(ValueError, match="expected http://HOST"):
            check_url(bad)


def test_the_guest_script_posts_its_report_with_wget() -> None:
    with listener("127.0.0.1:0") as ch:
        ch.inbox.expect(NONCE)
        out = subprocess.run(["sh", "-c", user_data(NONCE, ch.post_url(NONCE))],
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.splitlines()[-1] == f"fedprobe: report posted to {ch.post_url(NONCE)}"
        posted = ch.inbox.take(NONCE)
        assert posted is not None
        reading = read(posted, NONCE)
        assert reading.report is not None and reading.report.complete
        # the same lines as on the console
        console = [ln for ln in out.stdout.splitlines() if ln.startswith("FPR ")]
        assert posted.splitlines() == console


def test_without_a_url_the_script_posts_nothing() -> None:
    script = user_data(NONCE)
    assert "P=''" in script
    with pytest.raises(ValueError, match="not a plain http"):
        user_data(NONCE, "http://x/'; rm -rf /")
