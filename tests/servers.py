"""Real servers for tests: a Mosquitto broker each test can stop and restart, and fresh PostgreSQL databases."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from ingest.broker import free_port

# Trust-auth servers (CI) ignore the password; tests/services.sh sets it on a fresh install.
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class Mosquitto:
    """A Mosquitto broker on a free port, with persistence in its own directory."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    users: dict[str, str] | None = None  # if given, only these usernames and passwords may connect
    extra_conf: str = ""  # more lines of mosquitto.conf

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"{self._access()}"
            # Started as root, mosquitto drops to the "mosquitto" user and then cannot write its
            # persistence file here: run as whoever runs the tests.
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 1000\n"
            "log_dest none\n"
            f"{self.extra_conf}"
        )
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.process.kill()
            raise RuntimeError(f"mosquitto did not start: {self.process.stderr.read().decode()}") from None

    def _access(self) -> str:
        if self.users is None:
            return "allow_anonymous true\n"
        passwords = self.workdir / "passwords"
        passwords.write_text("")
        for username, password in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwords), username, password], check=True)
        return f"allow_anonymous false\npassword_file {passwords}\n"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: mosquitto saves its persistence file on the way out
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class InfluxDB:
    """An InfluxDB 1.x server (Debian's influxd) on a free port, with its data in its own directory."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, database: str = "anxin") -> str:
        return f"influxdb://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        binary = shutil.which("influxd") or "/usr/bin/influxd"
        conf = self.workdir / "influxdb.conf"
        conf.write_text(
            'reporting-disabled = true\n'
            f'bind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
            '  query-log-enabled = false\n  wal-fsync-delay = "0s"\n'
            '[monitor]\n  store-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '[logging]\n  level = "warn"\n'
            '[continuous_queries]\n  enabled = false\n'
        )
        log = open(self.workdir / "influxd.log", "ab")  # noqa: SIM115 - the server process owns it
        self.process = subprocess.Popen([binary, "-config", str(conf)], stdout=log, stderr=log)
        log.close()
        try:
            wait_for_port(self.port, timeout_s=30)
            self._wait_until_ready()
        except (TimeoutError, RuntimeError):
            self.process.kill()
            raise RuntimeError(f"influxd did not start: {(self.workdir / 'influxd.log').read_text()[-2000:]}") from None

    def _wait_until_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/ping", timeout=1).status_code == 204:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("influxd answers no /ping")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def create_postgres_database() -> str:
    """A new empty database on the local PostgreSQL; returns its URL."""
    name = f"anxin_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return f"postgresql://postgres:postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()
