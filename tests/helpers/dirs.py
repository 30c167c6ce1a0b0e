"""Directories for PostgreSQL data dirs that tests start servers in."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def server_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory outside pytest's tmp tree, removed afterwards.

    Running as root, PostgreSQL runs as the ``pgserver`` user, which must traverse every parent
    of its data dir. pytest resets ``/tmp/pytest-of-<user>`` to mode 0700 whenever any session
    starts, which would lock a running server of a concurrent session out of its own data dir.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
