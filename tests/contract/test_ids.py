"""Derived event ids: the same values as the standard library's uuid5, as usable UUIDs."""

from __future__ import annotations

import pickle
import uuid

from hypothesis import given
from hypothesis import strategies as st

from dispatchbus.contract.ids import uuid5, uuid5_str


@given(namespace=st.uuids(), name=st.text())
def test_uuid5_equals_the_standard_library(namespace: uuid.UUID, name: str) -> None:
    expected = uuid.uuid5(namespace, name)
    derived = uuid5(namespace, name)
    assert derived == expected
    assert str(derived) == str(expected)
    assert hash(derived) == hash(expected)
    assert derived.version == 5 and derived.variant == uuid.RFC_4122
    assert derived.is_safe is expected.is_safe


@given(namespace=st.uuids(), name=st.text())
def test_uuid5_str_equals_the_standard_library(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_str(namespace.bytes, name) == str(uuid.uuid5(namespace, name))


def test_derived_uuids_behave_like_any_uuid() -> None:
    derived = uuid5(uuid.NAMESPACE_URL, "call-1:route:0")
    assert pickle.loads(pickle.dumps(derived)) == derived
    assert uuid.UUID(str(derived)) == derived
    assert {derived: 1}[uuid.uuid5(uuid.NAMESPACE_URL, "call-1:route:0")] == 1
