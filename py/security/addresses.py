"""Host and IP address classification, shared by the Host-header rule and the outbound-fetch rule.

Why: both rules turn on one question, "is this a loopback / internal address?", and attackers write addresses
in forms a naive check misses: ``0x7f000001``, ``2130706433``, ``127.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``,
``localhost.``. Browsers (WHATWG URL) and ``inet_aton`` read all of them as IPv4 addresses, so we parse them
the same way, in one place, and classify the address that results.
"""
from __future__ import annotations

import ipaddress
from typing import Union
from urllib.parse import urlsplit

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
LOOPBACK_NAMES = ("localhost",)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def normalize_host(host: str) -> str:
    """Lower case, brackets and one trailing dot removed: ``[::1]`` -> ``::1``, ``LocalHost.`` -> ``localhost``."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return text


DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int | None] | None:
    """The scheme, normalised host and port (the scheme's default when none is written) of an address, to
    compare two addresses' sites; None when it cannot be read (a port out of range or not a number)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    return parts.scheme, normalize_host(parts.hostname or ""), port or DEFAULT_PORTS.get(parts.scheme)


def split_host_port(value: str) -> tuple[str, int | None]:
    """A Host header or URL authority as (normalized host, port or None); a bad port yields port -1."""
    text = value.strip()
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            return normalize_host(text), None
        host, rest = text[: end + 1], text[end + 1:]
        if rest.startswith(":"):
            port = _port(rest[1:])
    elif text.count(":") == 1:
        host, raw_port = text.split(":", 1)
        port = _port(raw_port)
    else:
        host = text  # a bare IPv6 address or a plain name
    return normalize_host(host), port


def _port(text: str) -> int:
    if text.isascii() and text.isdecimal() and len(text) <= 5 and int(text) <= 65535:
        return int(text)
    return -1


def parse_ip(host: str) -> IPAddress | None:
    """The address a host string denotes when it is an IP literal in any form browsers accept, else None."""
    text = normalize_host(host)
    if not text:
        return None
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return _parse_ipv4(text)


def _parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """WHATWG / inet_aton IPv4: 1-4 parts, each decimal, 0x-hex or 0-octal; the last part fills the rest."""
    parts = text.split(".")
    if len(parts) > 4 or any(part == "" for part in parts):
        return None
    numbers: list[int] = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int | None:
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isascii() and part.isdecimal() else None
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64, IPv4-compatible)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d (deprecated IPv4-compatible form)
        return ipaddress.IPv4Address(int(address))
    return None


def is_loopback_address(address: IPAddress) -> bool:
    inner = embedded_ipv4(address)
    return address.is_loopback or (inner is not None and inner.is_loopback)


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses: loopback, private, link-local, shared (CGNAT),
    multicast, reserved and unspecified addresses are all internal, also when wrapped in an IPv6 form."""
    inner = embedded_ipv4(address)
    if inner is not None and not is_public_address(inner):
        return False
    return bool(address.is_global) and not address.is_multicast and not address.is_unspecified


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``, which resolvers must map to loopback) or a loopback IP literal."""
    name = normalize_host(host)
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    address = parse_ip(name)
    return address is not None and is_loopback_address(address)
