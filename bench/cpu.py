"""The CPU time of another process: a server a benchmark runs beside what it measures."""

from __future__ import annotations

import psutil


def process_cpu_s(pid: int, *, descendants: bool = False) -> float:
    """User and system CPU seconds process ``pid`` has used so far.

    With ``descendants``, those of its living child processes too (uvicorn's workers); a child that
    has already ended took its CPU time with it.
    """
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)] if descendants else [process]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total
