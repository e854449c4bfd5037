"""Property tests for host and address classification: every spelling of an address means the same address,
and no spelling of an internal address passes as public (issue 13, Tests)."""
from __future__ import annotations

import ipaddress
import socket

from hypothesis import given, strategies as st

from lora_manager.py.security.addresses import (embedded_ipv4, is_loopback_host, is_public_address, normalize_host,
                                                parse_ip, split_host_port)
from lora_manager.py.security.hosts import host_allowed

ipv4s = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)
ipv6s = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)


def _part(number: int, style: str) -> str:
    return {"dec": str(number), "hex": hex(number), "HEX": "0X" + format(number, "X"), "oct": "0" + format(number, "o")}[style]


@st.composite
def spellings(draw: st.DrawFn) -> tuple[ipaddress.IPv4Address, str]:
    """An IPv4 address and one of the many ways browsers and inet_aton accept it."""
    address = draw(ipv4s)
    value = int(address)
    n_parts = draw(st.integers(min_value=1, max_value=4))
    octets = list(address.packed)
    head = octets[: n_parts - 1]
    rest = int.from_bytes(bytes(octets[n_parts - 1:]), "big")
    styles = draw(st.lists(st.sampled_from(["dec", "hex", "HEX", "oct"]), min_size=n_parts, max_size=n_parts))
    text = ".".join(_part(n, s) for n, s in zip([*head, rest], styles))
    if draw(st.booleans()):
        text += "."  # a trailing dot is the same name
    assert value == int(address)
    return address, text


@given(spellings())
def test_every_spelling_parses_to_the_same_address(case):
    address, text = case
    assert parse_ip(text) == address
    assert parse_ip(text.upper()) == address


@given(spellings())
def test_parsing_agrees_with_inet_aton(case):
    _address, text = case
    text = text.rstrip(".")
    assert parse_ip(text) == ipaddress.IPv4Address(socket.inet_aton(text))


@given(st.text(alphabet="0123456789abcdefxX.", max_size=20))
def test_whatever_inet_aton_reads_is_read_the_same(text):
    """Nothing the C library would connect to as an address slips past as a name (we also read WHATWG's
    ``0x`` = 0, which inet_aton refuses)."""
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return
    assert parse_ip(text) == expected


@given(ipv4s)
def test_internal_ipv4_is_internal_in_every_ipv6_wrapping(address):
    public = is_public_address(address)
    assert public == (address.is_global and not address.is_multicast)
    mapped = ipaddress.IPv6Address("::ffff:" + str(address))
    assert embedded_ipv4(mapped) == address
    if not public:
        assert not is_public_address(mapped)
        assert not is_public_address(ipaddress.IPv6Address(f"2002:{int(address) >> 16:x}:{int(address) & 0xFFFF:x}::"))
        assert not is_public_address(ipaddress.IPv6Address(f"64:ff9b::{int(address) >> 16:x}:{int(address) & 0xFFFF:x}"))
        assert parse_ip(f"[::ffff:{address}]") == mapped


@given(ipv6s)
def test_ipv6_classification_never_calls_internal_space_public(address):
    if is_public_address(address):
        assert address.is_global and not address.is_multicast and not address.is_loopback
        assert not address.is_link_local and not address.is_private


@given(st.integers(min_value=0, max_value=2**24 - 1), st.integers(min_value=1, max_value=65535))
def test_loopback_block_is_always_loopback(low, port):
    address = ipaddress.IPv4Address((127 << 24) + low)
    assert is_loopback_host(str(address))
    assert is_loopback_host(hex(int(address)))
    assert host_allowed(f"{address}:{port}", "127.0.0.1", ())
    assert not is_public_address(address)


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True),
       st.integers(min_value=1, max_value=65535))
def test_names_are_loopback_only_when_they_are_localhost(name, port):
    looks_local = name == "localhost" or name.endswith(".localhost")
    assert is_loopback_host(name) == looks_local
    assert host_allowed(f"{name}:{port}", "127.0.0.1", ()) == looks_local
    assert host_allowed(f"{name.upper()}.:{port}", "127.0.0.1", [name]) is True
    assert split_host_port(f"{name}:{port}") == (name, port)
    assert normalize_host(f"{name.upper()}.") == name


@given(ipv6s, st.integers(min_value=1, max_value=65535))
def test_bracketed_ipv6_hosts_split_cleanly(address, port):
    assert split_host_port(f"[{address}]:{port}") == (str(address), port)
    assert parse_ip(f"[{address}]") == address
