"""Fixtures for the routing-policy tests."""

from __future__ import annotations

import pytest

from dispatchbus.policy import AvailabilityBook, CompiledPolicy, load_reference_policy

from tests.support.policies import reference


@pytest.fixture(scope="session")
def policies() -> dict[str, CompiledPolicy]:
    """The three shipped reference policies by model, any unit status counting however old (see any_status_counts)."""
    return {model: reference(model) for model in ("911-led", "embedded-professional", "external-hotline")}


@pytest.fixture(scope="session")
def shipped() -> dict[str, CompiledPolicy]:
    """The three reference policies exactly as shipped."""
    return {model: load_reference_policy(model) for model in ("911-led", "embedded-professional", "external-hotline")}


@pytest.fixture
def empty_book() -> AvailabilityBook:
    return AvailabilityBook()

