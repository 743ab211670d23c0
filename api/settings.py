"""anxin's one settings class: environment (prefix ``ANXIN_``) over an optional TOML file.

The TOML file is named by ``ANXIN_CONFIG`` (or ``--config``); environment variables win over it.
Built once by the CLI and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from detect.shard import Shard


# Set by load_settings(config_file=...) for the duration of one Settings() call.
_CONFIG_FILE: ContextVar[str | None] = ContextVar("anxin_config_file", default=None)


class DetectSettings(BaseModel):
    """Detector tunables; each maps to a keyword argument of a detector in ``detect/``."""

    inactivity_hours: float = Field(12.0, gt=0, description="hours without consumption before an alarm")
    min_use_l: float = Field(0.0, ge=0, description="a register step at or below this is not use")
    learn: bool = Field(True, description="learn each household's usual silences and background flow")
    trickle_l_per_h: float = Field(1.0, ge=0, description="a register creeping at most this fast is a drip, not use")
    trickle_gap_h: float = Field(3.0, ge=0, description="a register creeps when it moves again within this many hours")
    learn_days: float = Field(84.0, gt=0, description="days of history the learning detectors learn from")
    usual_quantile: float = Field(1.0, gt=0, le=1, description="quantile of past days' silences that is usual")
    warning_margin_h: float = Field(3.0, ge=0, description="a warning needs this much more than the usual silence")
    min_warning_h: float = Field(4.0, ge=0, description="never warn about a shorter silence")
    refit_days: float = Field(7.0, gt=0, description="how often the learned detectors are refitted")
    offline_tolerance: float = Field(2.5, gt=1, description="allowed gap as a multiple of the usual cadence")
    offline_min_hours: float = Field(1.0, gt=0, description="never call a meter offline sooner than this")
    offline_max_late_hours: float = Field(12.0, gt=0, description="an upload this many hours overdue is missing")
    offline_default_cadence_hours: float = Field(
        24.0, gt=0, description="cadence assumed for a meter with too little history"
    )
    unusual_pattern_z: float = Field(
        4.0, gt=0, description="a day whose routine is this many spreads from the household's usual is unusual"
    )
    continuous_flow_hours: float = Field(8.0, gt=0, description="hours of flow without a pause before an alarm")
    continuous_flow_excess_l_per_h: float = Field(
        8.0, ge=0, description="flow above the household's background that counts as running water"
    )
    fleet_min_meters: int = Field(10, ge=2, description="never call fewer silent meters a fleet outage")
    fleet_min_fraction: float = Field(0.3, ge=0, le=1, description="nor fewer than this share of the fleet")
    fleet_window_h: float = Field(
        1.0, gt=0, description="silences beginning this close together count as one outage; also the offline hold"
    )


class NotifySettings(BaseModel):
    """Escalation, reminders and notices (``api/notify``); times in minutes, 0 means never."""

    poll_s: float = Field(10.0, gt=0, description="seconds between the notifier's rounds")
    alarm_escalate_min: float = Field(30.0, ge=0, description="an unacknowledged alarm goes up the chain after this")
    alarm_remind_min: float = Field(10.0, ge=0, description="an unacknowledged alarm is reminded this often")
    warning_escalate_min: float = Field(120.0, ge=0, description="the same for a warning")
    warning_remind_min: float = Field(60.0, ge=0, description="the same for a warning")
    info_escalate_min: float = Field(0.0, ge=0, description="the same for info (0: never; it is in the digest)")
    info_remind_min: float = Field(0.0, ge=0, description="the same for info (0: never)")
    digest_at: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="local time of the daily digest")
    retries: int = Field(6, ge=0, description="attempts after the first before a notice is marked failed")
    retry_base_s: float = Field(30.0, gt=0, description="the first retry's delay; each next one doubles it")
    timeout_s: float = Field(10.0, gt=0, description="seconds to wait for a webhook to answer")
    public_url: str = Field("http://127.0.0.1:8000", description="the web page's address, linked from notices")


class MqttUrl(BaseModel):
    host: str
    port: int
    username: str | None = None
    password: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANXIN_", env_nested_delimiter="__", extra="forbid")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_topic: str = "meters/+/readings"
    mqtt_client_id: str = "anxin-ingest"
    mqtt_protocol: Literal["3.1.1", "5"] = "5"
    mqtt_client: Literal["paho", "lean"] = Field(
        "paho", description="the ingester's MQTT client: paho-mqtt, or anxin's lean subscriber (ingest/lean_mqtt.py)"
    )
    readings_url: str = "sqlite:///./anxin.db"
    database_url: str = "sqlite:///./anxin.db"
    timezone: str = "Asia/Shanghai"
    max_clock_skew_s: float = Field(300.0, ge=0, description="readings further ahead than this are refused")
    max_payload_bytes: int = Field(256 * 1024, gt=0)
    ingest_queue_messages: int = Field(10_000, gt=0, description="messages held in memory before backpressure")
    ingest_meter_messages_per_min: float = Field(60.0, gt=0, description="flood rule: a meter's sustained rate")
    ingest_meter_burst: float = Field(1000.0, ge=1, description="flood rule: messages a meter may send at once")
    detect_tick_s: float = Field(60.0, gt=0)
    detect_history_days: float = Field(14.0, gt=0, description="history the detector reloads at start")
    detect_shard: str = Field("0/1", description="i/n: this detector owns the meters whose crc32 mod n is i")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(
        1, ge=1, le=64, description="processes serving `anxin api` (one a core); `anxin run` always uses one"
    )
    ingest_metrics_host: str = Field("127.0.0.1", description="where `anxin ingest` serves /metrics")
    ingest_metrics_port: int = Field(9108, ge=0, le=65535, description="port of `anxin ingest`'s /metrics; 0: none")
    log_format: Literal["text", "json"] = "text"
    pseudonym_key: str = Field(
        "anxin-demo-pseudonym-key", min_length=8, description="the key of the pseudonyms analysts see; keep it secret"
    )
    web_session_days: float = Field(30.0, gt=0, description="how long a sign-in on the web page lasts")
    detect: DetectSettings = DetectSettings()
    notify: NotifySettings = NotifySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        config_file = _CONFIG_FILE.get() or os.environ.get("ANXIN_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise ValueError(f"the config file {config_file!r} does not exist; fix ANXIN_CONFIG or --config")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @field_validator("pseudonym_key")
    @classmethod
    def _check_pseudonym_key(cls, value: str) -> str:
        if value.startswith("change-me"):
            raise ValueError("ANXIN_PSEUDONYM_KEY is still the placeholder; set a secret of your own "
                             "(openssl rand -hex 24)")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai") from exc
        return value

    @field_validator("detect_shard")
    @classmethod
    def _check_shard(cls, value: str) -> str:
        Shard.parse(value)
        return value

    @field_validator("mqtt_topic")
    @classmethod
    def _check_topic(cls, value: str) -> str:
        if not value or "#" in value[:-1] or any(c in value for c in "\0"):
            raise ValueError(f"ANXIN_MQTT_TOPIC {value!r} is not a valid MQTT subscription filter")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def mqtt(self) -> MqttUrl:
        return parse_mqtt_url(self.mqtt_url)


def parse_mqtt_url(url: str) -> MqttUrl:
    """Split ``mqtt://[user:pass@]host:port``; the message says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"ANXIN_MQTT_URL {url!r} must look like mqtt://[user:pass@]host:port")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise ValueError(f"ANXIN_MQTT_URL {url!r} has a bad port") from exc
    return MqttUrl(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def load_settings(config_file: str | None = None, **overrides) -> Settings:
    """Build the settings once; ``config_file`` stands in for ANXIN_CONFIG (used by ``--config``)."""
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**overrides)
    finally:
        _CONFIG_FILE.reset(token)
