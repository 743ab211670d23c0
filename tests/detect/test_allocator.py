"""The batch jobs' allocator setting: freed arrays are reused instead of mapped afresh."""

import subprocess
import sys

import pytest

# A child process that allocates, touches and frees a 64 MB array 20 times (as a backtest's refits
# do) and prints its minor page faults.
CHILD = """
import resource, sys
import numpy as np
from detect.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()  # glibc took every setting
np.ones(1).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    block = np.ones(8 << 20)
    del block
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def minor_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_kept_freed_memory_is_reused_without_faulting_its_pages_again():
    # Above glibc's largest mmap threshold (32 MB), each block is mapped afresh and each of its pages
    # (4 KB, or 2 MB where numpy gets huge pages) faulted in again; kept, only the first block's are.
    default, kept = minor_faults("default"), minor_faults("keep")
    assert kept * 5 < default, (default, kept)

