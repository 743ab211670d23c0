"""Every ingest test that talks to a broker runs with both MQTT clients: paho-mqtt and the lean one.

``ANXIN_MQTT_CLIENT`` is set for the test, so the settings it loads, and the ``anxin ingest``
processes it starts, use the client of its parameter.
"""

from __future__ import annotations

import inspect

import pytest

CLIENTS = ["paho", "lean"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    asks = "mqtt_client" in inspect.signature(metafunc.function).parameters
    if asks or "mosquitto" in metafunc.fixturenames:
        metafunc.parametrize("mqtt_client", CLIENTS, indirect=True)


@pytest.fixture(autouse=True)  # autouse puts it in every test's fixtures, where pytest_generate_tests finds it
def mqtt_client(request, monkeypatch) -> str | None:
    client = getattr(request, "param", None)  # None: a test that needs no broker
    if client is not None:
        monkeypatch.setenv("ANXIN_MQTT_CLIENT", client)
    return client
