"""The Host rule: which ``Host`` headers the server answers (against DNS rebinding).

Why: a page on ``attacker.example`` whose name the attacker re-points at 127.0.0.1 is, to the browser, its own
origin: its requests carry ``Host: attacker.example:8188`` and a matching ``Origin``, so an Origin check alone
lets it read and write everything. Only the server's own names can be trusted: loopback names and addresses,
the address the client actually connected to, the machine's own name when that address is not loopback, and
the names the user lists in ``allowed_hosts``.
"""
from __future__ import annotations

import socket
from functools import lru_cache
from typing import Iterable

from .addresses import is_loopback_address, is_loopback_host, normalize_host, parse_ip, split_host_port

HOST_REFUSED_ERROR = ("Request refused: the Host {host!r} is not a name of this server. If you reach LoRA Manager "
                      "under this name on purpose, add it to the allowed_hosts setting")


@lru_cache(maxsize=1)
def machine_names() -> frozenset[str]:
    """This machine's own host name (and its mDNS ``.local`` form); no DNS lookup, so it never blocks."""
    name = normalize_host(socket.gethostname() or "")
    if not name:
        return frozenset()
    short = name.split(".", 1)[0]
    return frozenset({name, short, f"{short}.local"})


def host_allowed(host_header: str, local_address: str | None, allowed_hosts: Iterable[str]) -> bool:
    """Whether a request with this ``Host`` may be served.

    ``local_address`` is the address of the socket the client connected to (None when unknown).
    ``allowed_hosts`` entries are ``name`` (any port) or ``name:port``.
    """
    host, port = split_host_port(host_header)
    if not host or port == -1:
        return False
    if is_loopback_host(host):
        return True
    for entry in allowed_hosts:
        allowed_host, allowed_port = split_host_port(entry)
        if allowed_host == host and allowed_port in (None, port):
            return True
    local = parse_ip(local_address) if local_address else None
    if local is None or is_loopback_address(local):
        return False  # reached over loopback: only loopback names are ours
    literal = parse_ip(host)
    if literal is not None:
        return literal == local or (literal.version != local.version and str(literal) == str(local))
    return host in machine_names()
