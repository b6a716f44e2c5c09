"""The physical floor: a raw confluent-kafka consume → decode → encode → produce loop.

Run as a child process by the benchmark::

    python -m bench.baseline_passthrough SOURCE_TOPIC SINK_TOPIC

Settings come from DISPATCHBUS_* variables like every other process. Each
record is decoded with the bus's Avro serde (pydantic validation included)
and encoded again, then produced with the same key to the sink topic, so the
floor pays for the same serialisation work as the worker; offsets are
committed about once a second. SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer

from dispatchbus.contract.serde import DecodeError, serde_from_settings
from dispatchbus.settings import Settings

READY_LINE = "passthrough ready"


def run(settings: Settings, source: str, sink: str) -> int:
    serde = serde_from_settings(settings)
    producer = Producer(settings.kafka.producer_config())
    consumer = Consumer(settings.kafka.consumer_config(f"{settings.worker.app_id}-passthrough"))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def assigned(_consumer: object, partitions: list) -> None:
        print(f"{READY_LINE}: {len(partitions)} partitions of {source}", flush=True)

    consumer.subscribe([source], on_assign=assigned)
    produce, poll, decode, encode = producer.produce, producer.poll, serde.decode, serde.encode
    failed = 0
    last_commit = time.monotonic()
    try:
        while not stopping:
            # consume() waits until it has num_messages or its timeout passes: wait for one
            # record, then take whatever else is already fetched without waiting.
            first = consumer.poll(0.1)
            batch = [first, *consumer.consume(num_messages=999, timeout=0)] if first is not None else []
            for msg in batch:
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        print(f"consume error: {msg.error()}", file=sys.stderr, flush=True)
                    continue
                try:
                    value = encode(decode(msg.value()), sink)
                except DecodeError:
                    failed += 1
                    continue
                while True:
                    try:
                        produce(sink, value=value, key=msg.key())
                        break
                    except BufferError:
                        poll(0.01)
            poll(0)
            if batch and time.monotonic() - last_commit >= 1.0:
                consumer.commit(asynchronous=True)
                last_commit = time.monotonic()
    finally:
        producer.flush(10)
        consumer.close()
    if failed:
        print(f"{failed} records could not be decoded", file=sys.stderr, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("sink")
    args = parser.parse_args(argv)
    return run(Settings(), args.source, args.sink)


if __name__ == "__main__":
    sys.exit(main())
