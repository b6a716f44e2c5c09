import io
import struct

import fastavro
import pytest

from dispatchbus.contract import events as ev
from dispatchbus.contract.schemas import current_versions
from dispatchbus.contract.serde import AvroSerde, ContractIds, DecodeError

from ..support.samples import call, one_of_each


@pytest.fixture(scope="module")
def serde() -> AvroSerde:
    return AvroSerde(ContractIds())


def test_every_event_type_round_trips(serde):
    samples = one_of_each()
    assert {type(e) for e in samples} == set(ev.EVENT_TYPES)
    for event in samples:
        data = serde.encode(event, "topic")
        assert data[0] == 0, "Confluent wire format starts with magic byte 0"
        assert serde.decode(data) == event


def test_wire_header_carries_the_contract_schema_id(serde):
    data = serde.encode(call(), "topic")
    (schema_id,) = struct.unpack(">I", data[1:5])
    assert schema_id == current_versions()["CallReceived"].schema_id


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"{\"json\": true}", "undecodable"),
        (b"\x00\x00\x00\x00\x07abc", "unknown_schema"),
    ],
)
def test_bad_bytes_raise_a_decode_error_with_a_reason(serde, data, reason):
    with pytest.raises(DecodeError) as info:
        serde.decode(data)
    assert info.value.reason == reason


def test_truncated_body_is_a_schema_mismatch(serde):
    data = serde.encode(call(), "topic")
    with pytest.raises(DecodeError) as info:
        serde.decode(data[:12])
    assert info.value.reason == "schema_mismatch"


def _call_with(**changes) -> bytes:
    """A CallReceived in the wire format, written by fastavro from a dict with ``changes`` (no validation)."""
    record = call().model_dump() | changes
    version = current_versions()["CallReceived"]
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, version.schema_id))
    fastavro.schemaless_writer(buf, version.parsed, record)
    return buf.getvalue()


def test_avro_valid_but_contract_invalid_is_rejected_without_the_value(serde):
    data = _call_with(priority=9)  # Avro accepts any long; the contract says 1-5
    with pytest.raises(DecodeError) as info:
        serde.decode(data)
    assert info.value.reason == "invalid_event"
    assert "priority" in info.value.detail
    assert "9" not in info.value.detail.replace("CallReceived", "")


def test_a_malformed_uuid_is_an_invalid_event_naming_the_field_without_the_value(serde):
    data = _call_with(event_id="not-a-uuid-at-all")  # Avro's uuid is a string: any text passes its writer
    with pytest.raises(DecodeError) as info:
        serde.decode(data)
    assert info.value.reason == "invalid_event"
    assert "event_id" in info.value.detail
    assert "not-a-uuid" not in info.value.detail


def test_decoded_uuids_are_uuids_in_every_event_type(serde):
    from uuid import UUID

    for event in one_of_each():
        decoded = serde.decode(serde.encode(event, "topic"))
        for name, value in event:
            if isinstance(value, UUID):
                assert type(getattr(decoded, name)) is UUID, (type(event).__name__, name)


def test_bytes_after_a_valid_record_are_a_decode_error(serde):
    data = serde.encode(call(), "topic")
    assert serde.decode(data) == call()
    with pytest.raises(DecodeError) as raised:
        serde.decode(data + b"\x00junk")
    assert raised.value.reason == "trailing_bytes"
    assert raised.value.detail == "CallReceived: 5 byte(s) after the record"


@pytest.mark.parametrize("field", ["call_id", "psap_id", "call_taker_id"])
def test_an_id_longer_than_the_limit_is_an_invalid_event(serde, field):
    at_limit = call().model_copy(update={field: "x" * ev.ID_MAX_LENGTH})
    assert serde.decode(serde.encode(at_limit, "topic")) == at_limit
    too_long = call().model_copy(update={field: "x" * (ev.ID_MAX_LENGTH + 1)})  # model_copy does not validate
    with pytest.raises(DecodeError) as raised:
        serde.decode(serde.encode(too_long, "topic"))
    assert raised.value.reason == "invalid_event"
    assert field in raised.value.detail and "xxx" not in raised.value.detail


class _Registry:
    """A Schema Registry client that fails the way it is told, then answers from the contract."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)

    def get_schema(self, schema_id: int):
        if self.failures:
            raise self.failures.pop(0)
        from types import SimpleNamespace

        version = next(v for v in current_versions().values() if v.schema_id == schema_id)
        return SimpleNamespace(schema_str=version.text)


class SchemaRegistryError(Exception):
    """What confluent-kafka's registry client raises for an HTTP error (its attributes)."""

    def __init__(self, http_status_code: int, error_code: int, error_message: str) -> None:
        super().__init__(error_message)
        self.http_status_code, self.error_code = http_status_code, error_code


def test_a_registry_that_does_not_answer_is_unavailable_not_a_bad_record(serde):
    from dispatchbus.contract.serde import RegistryIds, Unavailable

    data = serde.encode(call(), "topic")  # contract ids: the fake registry serves them
    blips = [SchemaRegistryError(503, 50301, "unavailable"), ConnectionRefusedError("refused"),
             SchemaRegistryError(429, 42901, "too many requests")]
    reader = AvroSerde(RegistryIds(_Registry(*blips)))
    for _ in blips:
        with pytest.raises(Unavailable) as raised:
            reader.decode(data)
        assert raised.value.reason == "schema_registry"
    assert reader.decode(data) == call()  # the registry is back

    unknown = AvroSerde(RegistryIds(_Registry(SchemaRegistryError(404, 40403, "Schema not found"))))
    with pytest.raises(DecodeError) as raised:
        unknown.decode(data)
    assert raised.value.reason == "unknown_schema"
