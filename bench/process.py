"""Running a command as a child process and measuring it: wall time and peak resident memory."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float  # the child's maximum resident set size (getrusage ru_maxrss)
    stdout: str
    load: float  # 1-minute load average when the run ended


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def run(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to completion; raise CalledProcessError (with stderr) if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        # wait4 reports this child's own resource usage (ru_maxrss in KiB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode()
        if process.returncode:
            raise subprocess.CalledProcessError(
                process.returncode, command, stdout, err.read().decode()
            )
    return Run(seconds, usage.ru_maxrss / 1024.0, stdout, load_average())


def best(runs: list[Run]) -> Run:
    """The fastest run: the one least disturbed by other work on the machine."""
    return min(runs, key=lambda r: r.seconds)
