"""Fault tests get a PostgreSQL of their own per module: they stop and restart it at will."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.faults.server import FaultServer, fault_server


@pytest.fixture(scope="module")
def fault_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    """A migrated ``faultdb`` with a ``fault_effects`` table, on a TCP port of its own."""
    with fault_server(tmp_path_factory.mktemp("fault-pg")) as server:
        yield server
