"""Parsers of the Downloader take whatever a server or a user sends: never crash, never leak a key."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lora_manager.py.services.downloads.downloader import parse_content_range, redact_url

PROFILE = settings(max_examples=150, deadline=None)


@PROFILE
@given(st.integers(0, 2**50), st.integers(0, 2**50), st.one_of(st.none(), st.integers(0, 2**51)))
def test_content_range_round_trip(start, length, total):
    end = start + length
    header = f"bytes {start}-{end}/{'*' if total is None else total}"
    assert parse_content_range(header) == (start, end, total)
    assert parse_content_range(header.upper()) == (start, end, total)


@PROFILE
@given(st.one_of(st.none(), st.text(max_size=60)))
def test_content_range_never_crashes(value):
    parsed = parse_content_range(value)
    assert parsed is None or (len(parsed) == 3 and parsed[0] >= 0)


@PROFILE
@given(st.from_regex(r"[A-Za-z0-9]{1,30}", fullmatch=True), st.from_regex(r"/[a-z0-9/._-]{0,30}", fullmatch=True))
def test_redacted_urls_keep_no_secret(secret, path):
    url = f"https://user:{secret}@civitai.com:8443{path}?token={secret}&x=1#frag{secret}"
    safe = redact_url(url)
    assert "token" not in safe and "user" not in safe and "#" not in safe
    assert safe == f"https://civitai.com:8443{path}"


@PROFILE
@given(st.text(max_size=80))
def test_redact_url_never_crashes(value):
    assert isinstance(redact_url(value), str)


@pytest.mark.parametrize("url", ["https://cdn.example:99999/file?token=x", "https://cdn.example:port/file"])
def test_an_unreadable_port_is_redacted_not_raised(url):
    assert redact_url(url) == "<invalid url>"
