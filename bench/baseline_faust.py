"""The framework floor: a bare Faust agent that forwards records unchanged.

Run as a child process by the benchmark::

    python -m bench.baseline_faust SOURCE_TOPIC SINK_TOPIC

It is configured exactly like the worker (``Settings.faust_config()``, the
``dispatchbus://`` transport and its fetch wait, from DISPATCHBUS_* variables)
but has no tables, no decoding and no routing: what the worker does on top
of this is the bus's own cost.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import faust

from dispatchbus.catalogue import CALL_PARTITIONS
from dispatchbus.runtime import driver
from dispatchbus.settings import Settings


def create_floor_app(settings: Settings, source: str, sink: str) -> faust.App:
    """A Faust app with one agent copying ``source`` to ``sink`` (raw bytes, same key)."""
    app = driver.App.from_settings(settings)
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    inbox = app.topic(source, partitions=CALL_PARTITIONS, internal=False, **raw)
    outbox = app.topic(sink, partitions=CALL_PARTITIONS, internal=False, **raw)

    @app.agent(inbox, name="forward")
    async def forward(stream: Any) -> None:
        async for item in stream.events():
            message = item.message
            await outbox.send(key=message.key, value=message.value)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("sink")
    args = parser.parse_args(argv)
    settings = Settings()
    app = create_floor_app(settings, args.source, args.sink)
    worker = faust.Worker(app, loglevel=settings.worker.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
