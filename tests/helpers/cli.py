"""Running the real ``automechanica`` command in a subprocess, with an explicit environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.network import free_port

AUTOMECHANICA = str(Path(sys.executable).parent / "automechanica")


def cli_env(data_dir: Path, **settings: Any) -> dict[str, str]:
    """This process's environment without DATABASE_URL, plus ``settings`` (upper-cased)."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("AUTOMECHANICA_DEBUG", None)
    data_dir.mkdir(parents=True, exist_ok=True)
    env["AUTOMECHANICA_DATA_DIR"] = str(data_dir)
    env["LOG_FORMAT"] = "json"
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> Result:
    """Run ``automechanica ARGS`` to completion; cwd is the data dir so no stray .env is read."""
    proc = subprocess.run(
        [AUTOMECHANICA, *args],
        env=env,
        cwd=env["AUTOMECHANICA_DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_many(env: dict[str, str], *commands: tuple[str, ...]) -> list[Result]:
    """Run independent commands two at a time (each one mostly waits on Python's imports)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda args: run_cli(env, *args), commands))


class ServeProcess:
    """``automechanica serve`` on a free port; output goes to files read after it stops."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        out_dir = Path(env["AUTOMECHANICA_DATA_DIR"])
        self._stdout = (out_dir / f"serve-{self.port}.out").open("w+")
        self._stderr = (out_dir / f"serve-{self.port}.err").open("w+")
        self._result: tuple[int, str, str] | None = None
        self.proc = subprocess.Popen(
            [AUTOMECHANICA, "serve", *args],
            env=self.env,
            cwd=out_dir,
            stdout=self._stdout,
            stderr=self._stderr,
            text=True,
        )

    def wait_live(self, timeout_s: float = 60) -> None:
        """Poll ``/api/health/live`` until the service answers (or the process dies)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, out, err = self.stop()
                raise AssertionError(f"serve exited with {code} before it was live:\n{out}\n{err}")
            try:
                if httpx.get(f"{self.url}/api/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # waiting for a process to bind its port, not for a backoff
        self.stop()
        raise AssertionError(f"serve did not answer /api/health/live within {timeout_s}s")

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, wait, and return (exit code, stdout, stderr); safe to call twice."""
        if self._result is not None:
            return self._result
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        texts = []
        for fh in (self._stdout, self._stderr):
            fh.seek(0)
            texts.append(fh.read())
            fh.close()
        self._result = (self.proc.returncode, texts[0], texts[1])
        return self._result
