"""Settings: environment over TOML file over defaults, and clear refusals."""

import pytest
from pydantic import ValidationError

from api.settings import Settings, load_settings, parse_mqtt_url


def test_defaults_are_the_documented_ones(monkeypatch):
    for key in ("ANXIN_CONFIG", "ANXIN_MQTT_URL", "ANXIN_TIMEZONE"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert (settings.mqtt_topic, settings.readings_url, settings.database_url, settings.timezone) == (
        "meters/+/readings", "sqlite:///./anxin.db", "sqlite:///./anxin.db", "Asia/Shanghai")
    assert settings.detect.inactivity_hours == 12


def test_environment_wins_over_the_toml_file(tmp_path, monkeypatch):
    config = tmp_path / "anxin.toml"
    config.write_text('timezone = "Europe/Rome"\nmqtt_topic = "$share/anxin/meters/+/readings"\n'
                      "[detect]\ninactivity_hours = 8\n")
    monkeypatch.setenv("ANXIN_CONFIG", str(config))
    monkeypatch.setenv("ANXIN_DETECT__INACTIVITY_HOURS", "10")
    settings = load_settings()
    assert settings.timezone == "Europe/Rome"
    assert settings.mqtt_topic == "$share/anxin/meters/+/readings"
    assert settings.detect.inactivity_hours == 10


def test_mqtt_url_with_credentials():
    url = parse_mqtt_url("mqtt://ingest:s%40cret@broker.local:8883")
    assert (url.host, url.port, url.username, url.password) == ("broker.local", 8883, "ingest", "s@cret")


def test_detector_settings_reach_the_detectors_they_name(monkeypatch):
    from api.wiring import build_detectors
    from detect.continuous_flow import ContinuousFlowDetector
    from detect.fleet import FleetOutageDetector

    monkeypatch.setenv("ANXIN_DETECT__CONTINUOUS_FLOW_HOURS", "6")
    monkeypatch.setenv("ANXIN_DETECT__CONTINUOUS_FLOW_EXCESS_L_PER_H", "12")
    monkeypatch.setenv("ANXIN_DETECT__FLEET_MIN_METERS", "25")
    monkeypatch.setenv("ANXIN_DETECT__FLEET_MIN_FRACTION", "0.5")
    monkeypatch.setenv("ANXIN_DETECT__FLEET_WINDOW_H", "24")
    settings = load_settings(timezone="Europe/Rome")
    detectors = {type(d): d for d in build_detectors(settings.detect, timezone=settings.timezone)}
    flow, fleet = detectors[ContinuousFlowDetector], detectors[FleetOutageDetector]
    assert (flow.min_hours, flow.min_excess_l_per_h, flow.timezone) == (6, 12, "Europe/Rome")
    assert (fleet.min_meters, fleet.min_fraction, fleet.window_h) == (25, 0.5, 24)


@pytest.mark.parametrize("setting, value", [
    ("ANXIN_DETECT__FLEET_MIN_METERS", "1"),
    ("ANXIN_DETECT__FLEET_MIN_FRACTION", "1.5"),
    ("ANXIN_DETECT__FLEET_WINDOW_H", "0"),
    ("ANXIN_DETECT__CONTINUOUS_FLOW_HOURS", "-1"),
])
def test_bad_detector_settings_are_refused(monkeypatch, setting, value):
    monkeypatch.setenv(setting, value)
    with pytest.raises(ValidationError, match=setting.removeprefix("ANXIN_DETECT__").lower()):
        load_settings()


@pytest.mark.parametrize("field, value, words", [
    ("mqtt_url", "tcp://broker:1883", "mqtt://"),
    ("timezone", "Mars/Olympus", "IANA"),
    ("mqtt_protocol", "4", "3.1.1"),
])
def test_bad_values_say_what_to_change(field, value, words):
    with pytest.raises(ValidationError, match=words):
        load_settings(**{field: value})


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_settings(str(tmp_path / "nope.toml"))


def test_the_placeholder_pseudonym_key_is_refused():
    with pytest.raises(ValidationError, match="ANXIN_PSEUDONYM_KEY is still the placeholder"):
        load_settings(pseudonym_key="change-me-pseudonym-key")
    assert load_settings(pseudonym_key="0123456789abcdef").pseudonym_key == "0123456789abcdef"
