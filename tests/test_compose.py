"""The production docker-compose.yml and its Mosquitto configuration.

No Docker engine runs here: ``docker compose config`` (or Debian's ``docker-compose`` 1.29, which
tests/services.sh installs) resolves the file with deploy/env.example, and the test reads what it
resolved. The broker's configuration and ACLs run in a real Mosquitto.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from api.settings import Settings
from ingest.broker import free_port
from ingest.mqtt import MqttOptions
from store.influx_readings import RetentionPolicies
from tests.servers import wait_for_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
ANXIN_SERVICES = ("migrate", "ingest", "detect", "notify", "api")
LONG_RUNNING = ("mosquitto", "influxdb", "postgres", "ingest", "detect", "notify", "api")


def compose_command() -> list[str]:
    """``docker compose`` when the v2 plugin is there, else ``docker-compose``; never a skip."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed; run tests/services.sh")


def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    """``config`` of docker-compose.yml with ``env_file``; the caller's ANXIN_* and COMPOSE_* stay out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANXIN_", "COMPOSE_"))}
    return subprocess.run(
        [*compose_command(), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE),
         "--env-file", str(env_file), "config"],
        capture_output=True, text=True, env=env, timeout=120,
    )


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def filled_env() -> dict[str, str]:
    """env.example with every `change-me` replaced, as the README's deploy step 2 says."""
    return {name: value.replace("change-me-", "0f3a9c") for name, value in env_example().items()}


def settings_of(environment: dict[str, str]) -> Settings:
    """The settings a service's ANXIN_* variables make (ANXIN_NOTIFY__PUBLIC_URL is notify.public_url)."""
    values: dict = {}
    for key, value in environment.items():
        name = key.removeprefix("ANXIN_").lower()
        group, _, field = name.partition("__")
        if field:
            values.setdefault(group, {})[field] = value
        else:
            values[name] = value
    return Settings(**values)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    env_file = tmp_path_factory.mktemp("compose") / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in filled_env().items()))
    result = compose_config(env_file)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_anxin_refuses_the_example_pseudonym_key(tmp_path):
    """Left as the placeholder, the pseudonym key stops anxin: analysts' pseudonyms would be guessable."""
    result = compose_config(ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    api = yaml.safe_load(result.stdout)["services"]["api"]["environment"]
    with pytest.raises(ValueError, match="ANXIN_PSEUDONYM_KEY is still the placeholder"):
        settings_of(api)


def test_the_compose_file_is_a_compose_spec_file_without_version():
    assert "version" not in yaml.safe_load(COMPOSE_FILE.read_text())


def test_the_example_env_file_resolves_every_service(resolved):
    assert set(resolved["services"]) == {"mosquitto", "influxdb", "postgres", *ANXIN_SERVICES}
    images = {name: service.get("image") for name, service in resolved["services"].items()}
    assert images["mosquitto"] == "eclipse-mosquitto:2"
    assert images["influxdb"] == "influxdb:2.7"
    assert images["postgres"] == "postgres:16"


def test_long_running_services_have_healthchecks_and_restart(resolved):
    services = resolved["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["healthcheck"]["test"], name
    health = {name: " ".join(services[name]["healthcheck"]["test"]) for name in LONG_RUNNING}
    assert "pg_isready" in health["postgres"]
    assert "influx ping" in health["influxdb"]
    assert "mosquitto_sub" in health["mosquitto"]
    assert "http://127.0.0.1:8000/health" in health["api"]
    assert "http://127.0.0.1:9108/metrics" in health["ingest"]
    assert "check(" in health["detect"]
    assert "check(" in health["notify"]
    assert services["migrate"]["restart"] == "no"


def test_services_start_in_order(resolved):
    services = resolved["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    assert conditions("ingest") == {"mosquitto": "service_healthy", "influxdb": "service_healthy",
                                    "migrate": "service_completed_successfully"}
    for name in ("detect", "notify", "api"):
        assert conditions(name) == {"influxdb": "service_healthy", "migrate": "service_completed_successfully"}


def test_anxin_services_are_one_image_configured_from_the_env_file(resolved):
    env = filled_env()
    for name in ANXIN_SERVICES:
        service = resolved["services"][name]
        assert service["image"] == "anxin:latest"
        settings = settings_of(service["environment"])
        assert settings.mqtt.host == "mosquitto" and settings.mqtt.port == 1883
        assert (settings.mqtt.username, settings.mqtt.password) == ("anxin", env["ANXIN_MQTT_PASSWORD"])
        assert settings.readings_url == f"influxdb://{env['ANXIN_INFLUX_TOKEN']}@influxdb:8086/anxin"
        assert settings.database_url == f"postgresql://anxin:{env['ANXIN_DB_PASSWORD']}@postgres:5432/anxin"
    assert resolved["services"]["api"]["command"][0] == "api"
    assert settings_of(resolved["services"]["api"]["environment"]).api_workers == 2
    assert settings_of(resolved["services"]["notify"]["environment"]).notify.public_url == env["ANXIN_PUBLIC_URL"]
    ingest = resolved["services"]["ingest"]["environment"]
    assert (ingest["ANXIN_INGEST_METRICS_HOST"], str(ingest["ANXIN_INGEST_METRICS_PORT"])) == ("0.0.0.0", "9108")
    assert settings_of(ingest).mqtt_protocol == "3.1.1"  # its window: max_inflight_messages, checked below


def test_influxdb_maps_every_retention_policy_the_readings_store_uses():
    script = (ROOT / "deploy/influxdb-init.sh").read_text()
    mapped = set(re.findall(r"v1 dbrp create .*--db anxin --rp (\w+)", script))
    policies = RetentionPolicies()
    assert mapped == {policies.raw, policies.hourly, policies.recent}
    assert re.search(r"--rp raw .*--default", script)
    assert os.access(ROOT / "deploy/influxdb-init.sh", os.X_OK)  # the image's run-parts skips the others


def test_a_missing_secret_stops_compose_with_a_message(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env_example().items() if k != "ANXIN_MQTT_PASSWORD"))
    result = compose_config(env_file)
    assert result.returncode != 0
    assert "set ANXIN_MQTT_PASSWORD in .env" in result.stderr


def test_env_example_lists_exactly_the_variables_the_compose_file_uses():
    text = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    assert used == set(env_example())


# --- The broker: deploy/mosquitto.conf and deploy/mosquitto.acl in a real Mosquitto ----------------


def test_broker_limits_match_the_ingester():
    conf = dict(line.split(None, 1) for line in (ROOT / "deploy/mosquitto.conf").read_text().splitlines()
                if line and not line.startswith("#"))
    assert int(conf["message_size_limit"]) == Settings().max_payload_bytes
    assert int(conf["max_inflight_messages"]) == MqttOptions(host="h", port=1, topic="t", client_id="c").receive_maximum
    assert conf["allow_anonymous"] == "false"
    assert conf["persistence"] == "true"
    # 1,000 meters x hourly readings x a 24 h outage, with margin.
    assert int(conf["max_queued_messages"]) >= 10 * 1000 * 24


@pytest.fixture
def broker(tmp_path):
    """deploy/mosquitto.conf with local paths and port, users anxin, flat-101 and flat-102."""
    port = free_port()
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    shutil.copy(ROOT / "deploy/mosquitto.acl", acl)
    for user, password in (("anxin", "pw-anxin"), ("flat-101", "pw-101"), ("flat-102", "pw-102")):
        subprocess.run(["mosquitto_passwd", "-b", *([] if passwd.exists() else ["-c"]), str(passwd), user, password],
                       check=True, capture_output=True)
    conf = (ROOT / "deploy/mosquitto.conf").read_text()
    conf = re.sub(r"(?m)^listener 1883$", f"listener {port} 127.0.0.1", conf)
    conf = re.sub(r"(?m)^password_file .*$", f"password_file {passwd}", conf)
    conf = re.sub(r"(?m)^acl_file .*$", f"acl_file {acl}", conf)
    conf = re.sub(r"(?m)^persistence_location .*$", f"persistence_location {tmp_path}/", conf)
    if os.geteuid() == 0:
        conf = "user root\n" + conf  # else Mosquitto drops to user mosquitto, who cannot read tmp_path
    (tmp_path / "mosquitto.conf").write_text(conf)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(tmp_path / "mosquitto.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise RuntimeError(f"mosquitto did not start: {process.stderr.read().decode()}") from None
    yield port
    process.terminate()
    process.wait(timeout=10)


def mqtt(tool: str, port: int, user: str | None, password: str | None, *args: str) -> subprocess.CompletedProcess:
    auth = ["-u", user, "-P", password] if user else []
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), "-V", "5", *auth, *args],
                          capture_output=True, text=True, timeout=30)


def test_meters_publish_only_their_own_readings_and_only_the_ingester_reads_them(broker):
    # The ingester's persistent session queues what it may read while it is away.
    session = ["-i", "anxin-test", "-c", "-x", "3600", "-q", "1", "-t", "$share/anxin/meters/+/readings"]
    assert mqtt("mosquitto_sub", broker, "anxin", "pw-anxin", *session, "-E").returncode == 0

    def publish(user, password, meter, message):
        return mqtt("mosquitto_pub", broker, user, password, "-q", "1", "-t", f"meters/{meter}/readings", "-m", message)

    assert publish(None, None, "flat-101", "anonymous").returncode != 0
    assert publish("flat-101", "wrong", "flat-101", "bad password").returncode != 0
    publish("flat-101", "pw-101", "flat-102", "spoofed")  # refused by the ACL
    publish("anxin", "pw-anxin", "flat-101", "from the ingester")  # refused: anxin only reads
    assert publish("flat-101", "pw-101", "flat-101", "own 101").returncode == 0
    assert publish("flat-102", "pw-102", "flat-102", "own 102").returncode == 0
    # A meter cannot read the others' readings.
    peek = mqtt("mosquitto_sub", broker, "flat-102", "pw-102", "-q", "1", "-t", "meters/+/readings",
                "-i", "peek", "-c", "-x", "60", "-E")
    assert peek.returncode == 0
    assert publish("flat-101", "pw-101", "flat-101", "own 101 again").returncode == 0

    drained = mqtt("mosquitto_sub", broker, "anxin", "pw-anxin", *session, "-v", "-C", "3", "-W", "10")
    assert drained.stdout.splitlines() == [
        "meters/flat-101/readings own 101",
        "meters/flat-102/readings own 102",
        "meters/flat-101/readings own 101 again",
    ]
    leaked = mqtt("mosquitto_sub", broker, "flat-102", "pw-102", "-q", "1", "-t", "meters/+/readings",
                  "-i", "peek", "-c", "-x", "60", "-v", "-W", "2")
    assert leaked.stdout == ""


def test_the_mosquitto_healthcheck_command_works_against_the_broker(broker):
    result = mqtt("mosquitto_sub", broker, "anxin", "pw-anxin", "-t", "$SYS/broker/uptime", "-C", "1", "-W", "5")
    assert result.returncode == 0 and "seconds" in result.stdout


def test_the_broker_refuses_payloads_above_the_ingester_limit(broker, tmp_path):
    limit = Settings().max_payload_bytes
    session = ["-i", "anxin-big", "-c", "-x", "3600", "-q", "1", "-t", "meters/+/readings"]
    assert mqtt("mosquitto_sub", broker, "anxin", "pw-anxin", *session, "-E").returncode == 0
    for size in (limit + 1, limit):
        payload = tmp_path / f"{size}.bin"
        payload.write_bytes(b"x" * size)
        mqtt("mosquitto_pub", broker, "flat-101", "pw-101", "-q", "1", "-t", "meters/flat-101/readings",
             "-f", str(payload))
    drained = mqtt("mosquitto_sub", broker, "anxin", "pw-anxin", *session, "-C", "1", "-W", "10", "-N")
    assert len(drained.stdout) == limit
