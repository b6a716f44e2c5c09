"""Fixtures for the routing-policy tests."""

from __future__ import annotations

import pytest

from dispatchbus.policy import AvailabilityBook, CompiledPolicy, load_reference_policy


@pytest.fixture(scope="session")
def policies() -> dict[str, CompiledPolicy]:
    """The three shipped reference policies by model."""
    return {model: load_reference_policy(model) for model in ("911-led", "embedded-professional", "external-hotline")}


@pytest.fixture
def empty_book() -> AvailabilityBook:
    return AvailabilityBook()

