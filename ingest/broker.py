"""An embedded MQTT broker (amqtt) for ``anxin demo``, so the demo needs nothing beyond pip.

For demos only: it speaks MQTT 3.1.1 and keeps no queue for a disconnected client. Production
runs Mosquitto (see docker-compose.yml).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from amqtt.broker import Broker


class EmbeddedBroker:
    """amqtt on 127.0.0.1:``port``, running on its own event loop in a daemon thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="mqtt-broker", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"the embedded MQTT broker did not start on port {self.port}: {self._error}")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(broker.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
