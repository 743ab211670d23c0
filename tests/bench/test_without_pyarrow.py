"""The runner for the code before pyarrow runs a module with pandas keeping its strings as Python objects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).parents[2] / "bench" / "without_pyarrow.py"


def storage_of_strings(tmp_path, *runner) -> str:
    (tmp_path / "api").mkdir(exist_ok=True)  # bench/ has an api.py too, which must not hide this one
    (tmp_path / "api" / "__init__.py").write_text("WHERE = 'the code run'\n")
    (tmp_path / "which_storage.py").write_text(
        "import sys, api, pandas as pd\nprint(type(pd.Series(['a']).array).__name__, sys.argv[1:], api.WHERE)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, *runner, "which_storage", "x"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_runner_hides_pyarrow_from_pandas_and_passes_the_arguments(tmp_path):
    assert storage_of_strings(tmp_path, "-m") == "ArrowStringArray ['x'] the code run"  # as anxin installs pandas
    assert storage_of_strings(tmp_path, str(RUNNER)) == "StringArray ['x'] the code run"
