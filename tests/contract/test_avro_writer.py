"""The compiled Avro writers write exactly the bytes fastavro writes, for every record of the contract."""

import io
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatchbus.contract.avro_writer import (
    UnsupportedSchema,
    compile_writer,
    timestamp_millis,
    timestamp_varint,
    zigzag_varint,
)
from dispatchbus.contract.schemas import current_versions
from dispatchbus.contract.serde import AvroSerde, ContractIds, _compiled

from ..support.samples import one_of_each

CONTRACT = {name: json.loads(v.text) for name, v in current_versions().items()}

_ZONES = st.sampled_from([timezone.utc, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))])


def _pairs(schema, named):
    """A strategy of (object with attributes, plain dict value for fastavro) for ``schema``."""
    if isinstance(schema, list):
        branch = _pairs(schema[1], named)
        return st.one_of(st.just((None, None)), branch)
    if isinstance(schema, str):
        if schema in named:
            return st.deferred(lambda: _pairs(named[schema], named))
        schema = {"type": schema}
    kind, logical = schema["type"], schema.get("logicalType")
    if kind == "record":
        name = schema["name"]
        named[name if "." in name else f"{schema.get('namespace', '')}.{name}"] = schema
        fields = [(f["name"], _pairs(f["type"], named)) for f in schema["fields"]]
        return st.tuples(*(s for _, s in fields)).map(
            lambda values: (
                SimpleNamespace(**{n: v[0] for (n, _), v in zip(fields, values)}),
                {n: v[1] for (n, _), v in zip(fields, values)},
            )
        )
    if kind == "array":
        return st.lists(_pairs(schema["items"], named), max_size=4).map(
            lambda items: ([i[0] for i in items], [i[1] for i in items])
        )
    plain = {
        ("string", "uuid"): st.uuids(),
        ("string", None): st.text(max_size=40),
        ("long", "timestamp-millis"): st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_ZONES
        ),
        ("long", None): st.integers(-(2**63), 2**63 - 1),
        ("double", None): st.floats(allow_nan=False),
        ("boolean", None): st.booleans(),
        ("bytes", None): st.binary(max_size=40),
        ("null", None): st.none(),
    }[(kind, logical)]
    return plain.map(lambda v: (v, v))


def _fastavro_bytes(schema, value) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), value)
    return buf.getvalue()


def _compiled_bytes(schema, obj) -> bytes:
    out = bytearray()
    compile_writer(schema)(obj, out)
    return bytes(out)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_every_record_compiles(name):
    assert compile_writer(CONTRACT[name]) is not None


@pytest.mark.parametrize("name", sorted(CONTRACT))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_compiled_writer_writes_what_fastavro_writes(name, data):
    schema = CONTRACT[name]
    obj, plain = data.draw(_pairs(schema, {}))
    assert _compiled_bytes(schema, obj) == _fastavro_bytes(schema, plain)


def test_contract_events_encode_as_fastavro_encodes_their_dump():
    serde = AvroSerde(ContractIds())
    for event in one_of_each():
        name = type(event).__name__
        assert serde.encode(event, "t")[5:] == _fastavro_bytes(CONTRACT[name], event.model_dump()), name


@pytest.mark.parametrize("n", [0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, 2**31, -(2**31), 2**63 - 1, -(2**63)])
def test_varint_boundaries_match_fastavro(n):
    assert zigzag_varint(n) == _fastavro_bytes("long", n)


def test_timestamps_before_the_epoch_and_with_offsets_match_fastavro():
    for value in (
        datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=timezone.utc),
        datetime(1960, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=3))),
        datetime(2026, 5, 4, 18, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=-7))),
    ):
        schema = {"type": "long", "logicalType": "timestamp-millis"}
        assert zigzag_varint(timestamp_millis(value)) == _fastavro_bytes(schema, value)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="aware"):
        timestamp_millis(datetime(2026, 1, 1))
    timestamp_varint(datetime(2026, 1, 1, tzinfo=timezone.utc))  # cached: the naive value must still miss
    with pytest.raises(ValueError, match="aware"):
        timestamp_varint(datetime(2026, 1, 1))


def test_cached_timestamps_are_the_instants_bytes_in_any_zone_and_the_cache_stays_bounded():
    utc = datetime(2026, 5, 4, 18, 0, 0, 123_000, tzinfo=timezone.utc)
    same_instant = utc.astimezone(timezone(timedelta(hours=-7)))
    schema = {"type": "long", "logicalType": "timestamp-millis"}
    assert timestamp_varint(utc) == timestamp_varint(same_instant) == _fastavro_bytes(schema, utc)
    for minutes in range(10):
        value = same_instant + timedelta(minutes=minutes)
        assert timestamp_varint(value) == _fastavro_bytes(schema, value)
    assert timestamp_varint.cache_info().maxsize is not None


@pytest.mark.parametrize(
    "field_type",
    [
        {"type": "enum", "name": "Colour", "symbols": ["RED"]},
        {"type": "map", "values": "string"},
        ["null", "string", "long"],
        ["string", "null"],
        "int",
        {"type": "long", "logicalType": "timestamp-micros"},
    ],
)
def test_constructs_outside_the_contract_are_refused_and_left_to_fastavro(field_type):
    schema = {"type": "record", "name": "R", "namespace": "t", "fields": [{"name": "f", "type": field_type}]}
    with pytest.raises(UnsupportedSchema):
        compile_writer(schema)
    assert _compiled(json.dumps(schema)) is None


def test_the_serde_falls_back_to_fastavro_for_a_record_without_a_compiled_writer():
    compiled, fallback = AvroSerde(ContractIds()), AvroSerde(ContractIds())
    fallback._writers = dict.fromkeys(fallback._writers)  # as if no schema had compiled
    for event in one_of_each():
        assert fallback.encode(event, "t") == compiled.encode(event, "t"), type(event).__name__
