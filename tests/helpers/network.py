"""Addresses that fail in a chosen way: a closed port, a black hole, an unresolvable host."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

UNRESOLVABLE_HOST = "no-such-host.automechanica.invalid"  # RFC 2606: .invalid never resolves


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections into its backlog and never answers a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
