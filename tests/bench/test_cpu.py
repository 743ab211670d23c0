"""bench.cpu: a server's CPU time, with its worker processes' when asked."""

import subprocess
import sys

import psutil

from bench.cpu import process_cpu_s

# A parent that starts a worker, which burns 0.3 s of CPU, says so, and waits; the parent itself burns little.
_WORKER = ("import time; t = time.process_time()\n"
           "while time.process_time() - t < 0.3: pass\n"
           "print('burnt', flush=True); time.sleep(60)")
_PARENT = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {_WORKER!r}]); time.sleep(60)"


def test_descendants_add_the_workers_cpu_to_the_servers_own():
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "burnt\n"  # the worker shares the parent's stdout
        alone = process_cpu_s(parent.pid)
        with_workers = process_cpu_s(parent.pid, descendants=True)
        assert alone < 0.25
        assert with_workers - alone >= 0.25
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
