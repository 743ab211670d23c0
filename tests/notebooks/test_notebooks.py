"""The analysts' notebooks run top to bottom in a real Jupyter kernel (nbclient and ipykernel).

By default on simulated households; then on data in a readings store, an alerts database and
CSV files, where they must show the outcomes cadres recorded and show meters only by pseudonym.
Each notebook ends with checks of its own (every plot has data; on simulated data, the 12-hour
rule finds every still resident), so a notebook that runs is also a notebook that says something.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from api.settings import DetectSettings
from api.wiring import build_detectors
from detect.backtest import backtest
from detect.csvio import write_readings_csv
from detect.evaluate import score, standard_incidents, write_incidents_csv
from detect.simulate import simulate
from store.alerts import LATE_NOTE, Episode, resolve, sync_episodes
from store.db import Database
from store.models import Role
from store.readings import Reading, open_readings_store
from store.users import create_user

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
TUNING, REVIEW = "threshold_tuning.ipynb", "household_review.ipynb"
FOUND_NOTE = "found her on the floor, ambulance called"
AWAY_NOTE = "at her daughter's, all well"
RAW_PREFIX = "flat-"  # the field data's meter ids, which an analyst must never see
START = pd.Timestamp("2026-03-02", tz="Asia/Shanghai")
DAYS = 35


def run(name: str, workdir: Path, monkeypatch, **env: str) -> nbformat.NotebookNode:
    """Execute a notebook in a fresh kernel with only ``env`` of the ANXIN_* variables, in ``workdir``."""
    for key in [k for k in os.environ if k.startswith("ANXIN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def shown(notebook) -> str:
    """Every text the notebook shows: printed output and displayed tables."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


def pictures(notebook) -> int:
    return sum("image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", []))


def test_the_notebooks_are_committed_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted([TUNING, REVIEW])
    for name in (TUNING, REVIEW):
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(notebook)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{name}: clear its outputs"


def test_threshold_tuning_plots_the_trade_off_on_simulated_households(tmp_path, monkeypatch):
    notebook = run(TUNING, tmp_path, monkeypatch)
    text = shown(notebook)
    assert pictures(notebook) == 1
    assert "12-hour rule" in text and "usual_quantile=0.9, warning_margin_h=1" in text
    assert "checks passed" in text
    assert list(tmp_path.iterdir()) == []  # nothing written beside it, no database created


def test_household_review_pictures_a_week_on_simulated_households(tmp_path, monkeypatch):
    notebook = run(REVIEW, tmp_path, monkeypatch)
    text = shown(notebook)
    assert pictures(notebook) == 2
    assert "Household m0" in text and "checks passed" in text
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def field(tmp_path_factory) -> dict[str, str]:
    """A small deployment's data: readings in a SQLite readings store and a CSV, labelled incidents in
    a CSV, and an alerts database in which a cadre resolved every inactivity alert with a note.

    Returns the ANXIN_* variables that point a notebook at it.
    """
    root = tmp_path_factory.mktemp("field")
    incidents = standard_incidents(6, start=START, days=DAYS, meter_prefix=RAW_PREFIX)
    sim = simulate(households=6, start=START, days=DAYS, cadence_s=3600, incidents=incidents,
                   meter_prefix=RAW_PREFIX, random_state=3)
    readings_url = f"sqlite:///{root}/readings.db"
    store = open_readings_store(readings_url)
    store.write([Reading(r.meter_id, int(r.ts_ms), float(r.total_l), int(r.received_ms))
                 for r in sim.readings.itertuples()])
    store.close()
    write_readings_csv(sim.readings, root / "readings.csv", "Asia/Shanghai")
    write_incidents_csv(sim.incidents, root / "incidents.csv")

    detectors = build_detectors(DetectSettings())
    episodes = backtest(sim.readings, detectors)
    flagged = score(episodes, sim.incidents, sim.readings).episodes
    database_url = f"sqlite:///{root}/alerts.db"
    db = Database(database_url)
    db.migrate()
    with db.session() as session:
        cadre, _ = create_user(session, name="cadre", role=Role.cadre, now=datetime.now(UTC))

    def at(ms) -> datetime:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)

    for ep in flagged[(flagged["kind"] == "inactivity") & flagged["ended_ms"].notna()].itertuples():
        with db.session() as session:
            raised = sync_episodes(session, kind="inactivity", now=at(ep.raised_ms), episodes=[
                Episode(ep.meter_id, ep.kind, ep.severity, at(ep.started_ms), at(ep.raised_ms))]).raised
            resolve(session, alert_id=raised[0].id, user_id=cadre.id, now=at(ep.ended_ms),
                    note=AWAY_NOTE if ep.false_alert else FOUND_NOTE)
    offline = flagged[(flagged["kind"] == "meter_offline") & flagged["ended_ms"].notna()]
    with db.session() as session:  # recorded resolved by the system: no cadre's outcome
        sync_episodes(session, kind="meter_offline", now=at(offline["ended_ms"].max()), episodes=[
            Episode(ep.meter_id, ep.kind, ep.severity, at(ep.started_ms), at(ep.raised_ms), at(ep.ended_ms))
            for ep in offline.itertuples()])
    db.dispose()
    assert not flagged.empty and (~flagged["false_alert"]).any() and flagged["false_alert"].any()
    return {
        "ANXIN_READINGS_URL": readings_url,
        "ANXIN_DATABASE_URL": database_url,
        "ANXIN_NOTEBOOK_INCIDENTS": str(root / "incidents.csv"),
        "ANXIN_NOTEBOOK_END": (START + pd.Timedelta(days=DAYS)).isoformat(),
        "ANXIN_NOTEBOOK_DAYS": str(DAYS),
        "readings_csv": str(root / "readings.csv"),
    }


def assert_field_shown(notebook, notes=(FOUND_NOTE, AWAY_NOTE)) -> None:
    text = shown(notebook)
    assert all(note in text for note in notes), "the cadres' outcomes are shown beside the replay"
    assert LATE_NOTE not in text, "a note the system wrote is not a cadre's outcome"
    assert RAW_PREFIX not in text, "meters are shown only by pseudonym"
    assert "checks passed" in text


def test_household_review_of_the_stores_shows_the_cadres_outcome_under_a_pseudonym(field, tmp_path, monkeypatch):
    env = {k: v for k, v in field.items() if k.startswith("ANXIN_")}
    notebook = run(REVIEW, tmp_path, monkeypatch, ANXIN_NOTEBOOK_SOURCE="store", **env)
    assert pictures(notebook) == 2
    assert_field_shown(notebook, notes=(FOUND_NOTE,))  # the week of the still resident the cadre found


def test_threshold_tuning_on_an_unlabelled_readings_csv_shows_the_burden(field, tmp_path, monkeypatch):
    notebook = run(TUNING, tmp_path, monkeypatch, ANXIN_NOTEBOOK_READINGS=field["readings_csv"],
                   ANXIN_NOTEBOOK_OUTCOMES="db", ANXIN_DATABASE_URL=field["ANXIN_DATABASE_URL"],
                   ANXIN_NOTEBOOK_HOUSEHOLD=f"{RAW_PREFIX}0000")  # chosen by its meter id, shown by pseudonym
    assert pictures(notebook) == 1
    assert_field_shown(notebook)
    assert "csv: 4," in shown(notebook) and "0 labelled incidents" in shown(notebook)
