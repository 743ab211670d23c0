"""Run a benchmark as pandas runs where pyarrow is not installed, to compare with the code before it.

Run: ``PYTHONPATH=OLD python bench/without_pyarrow.py bench.tick [ARGS]`` from OLD, a checkout of
the older code, giving this script by its path. pandas then keeps its strings as Python objects, as it did for anxin
before pyarrow became a dependency (2026-12-06).
"""

import os
import runpy
import sys

if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # as python -m has it, not this script's folder (its api.py would hide anxin's api)
    sys.modules["pyarrow"] = None  # import pyarrow now raises ImportError, so pandas does without it
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
