"""The embedded MQTT broker (amqtt) that `make demo` uses when no broker is given.

Zero setup, MQTT 3.1.1 only, single process: for demos and laptops. It is ANONYMOUS (any
client may connect and read or write any topic), so it is for GRIDLINK_ENV=development only.
Production, `make demo BROKER=mosquitto` and the test suite use the locked-down Mosquitto
(provisioning.broker, docs/broker-security.md); scale-out uses EMQX / Mosquitto with shared
subscriptions (docs/scale-out.md).

    python -m gridlink.broker --port 1883
"""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

logger = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


async def serve(host: str, port: int) -> None:
    from amqtt.broker import Broker

    broker = Broker(broker_config(host, port))
    await broker.start()
    logger.info(
        "embedded broker listening on %s:%d: ANONYMOUS, for the zero-setup demo only "
        "(production runs the locked-down Mosquitto, docs/broker-security.md)",
        host,
        port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(1883, help="TCP port"),
) -> None:
    """Run the embedded broker until interrupted."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger(__name__).setLevel(logging.INFO)
    asyncio.run(serve(host, port))


if __name__ == "__main__":
    typer.run(main)
