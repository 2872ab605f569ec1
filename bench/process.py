"""Running a command as a child process and measuring it: wall time and peak resident memory."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float  # the child's peak resident set size (VmHWM)
    stdout: str
    load: float  # 1-minute load average when the run ended
    cpu_seconds: float = 0.0  # user + system CPU time of the child (all its threads)


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def run(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to completion; raise CalledProcessError (with stderr) if it fails.

    Peak memory is the child's VmHWM (/proc/PID/status), sampled every few milliseconds until
    it exits: the kernel's ru_maxrss of a child also counts the parent's resident memory at
    fork time (it is carried over at exec), which would charge the benchmark's own tables to the
    command. Elsewhere than Linux, ru_maxrss is used.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        status_file = Path(f"/proc/{process.pid}/status")
        peak_kib = 0
        while True:
            finished = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if finished is not None:
                break
            peak_kib = max(peak_kib, _high_water_kib(status_file))
            time.sleep(0.005)
        # wait4 reaps the child and gives its resource usage (ru_maxrss in KiB on Linux).
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
    peak = peak_kib if peak_kib else usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, peak / 1024.0, stdout, load_average(), cpu)


def _high_water_kib(status_file: Path) -> int:
    try:
        for line in status_file.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def best(runs: list[Run]) -> Run:
    """The fastest run: the one least disturbed by other work on the machine."""
    return min(runs, key=lambda r: r.seconds)
