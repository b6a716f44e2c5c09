"""Reference policies adjusted for live tests (so they do not depend on the hour they run at)."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from dispatchbus.policy import CompiledPolicy, load_reference_policy

UNIT_STATUS_SECTION = "unit_status:\n  max_age_s: 43200\n"

ALWAYS_OPEN = {
    "daily: 07:00-23:00": "daily: 00:00-24:00",  # the community responder team
    "daily: 08:00-22:00": "daily: 00:00-24:00",  # the hotline
}


def any_status_counts(policy: CompiledPolicy) -> CompiledPolicy:
    """``policy`` where a unit counts as its last status says, however old, and a silent unit as available.

    For tests of other rules, so they need not report every unit first; the
    freshness rule itself is tested with the reference policies as shipped.
    """
    return dataclasses.replace(policy, unit_max_age_ms=None)


def reference(model: str = "911-led") -> CompiledPolicy:
    """The reference policy of ``model`` with :func:`any_status_counts`."""
    return any_status_counts(load_reference_policy(model))


def policy_file(tmp_path: Path, model: str = "911-led", *, always_open: bool = True, fresh_units: bool = False,
                crt_units: tuple[str, ...] = (), **timeouts: int) -> Path:
    """The reference policy of ``model``; teams and hotline open around the clock; some timeouts shortened.

    Without ``fresh_units`` a unit that never reported counts as available (see :func:`any_status_counts`);
    ``crt_units`` join the CRT team.
    """
    text = (resources.files("dispatchbus.policy.reference") / f"{model}.yaml").read_text()
    if not fresh_units:
        assert UNIT_STATUS_SECTION in text
        text = text.replace(UNIT_STATUS_SECTION, "")
    if crt_units:
        assert "units: [CRT-1, CRT-2]" in text
        text = text.replace("units: [CRT-1, CRT-2]", f"units: [CRT-1, CRT-2, {', '.join(crt_units)}]")
    if always_open:
        for old, new in ALWAYS_OPEN.items():
            text = text.replace(old, new)
    for hop, seconds in timeouts.items():
        stage = "accept" if hop in ("embedded_professional", "external_hotline") else "acknowledge"
        old = f"  {hop}: {{{stage}: "
        start = text.index(old)
        end = text.index("}", start)
        text = text[:start] + f"{old}{seconds}" + text[end:]
    path = tmp_path / f"{model}-test.yaml"
    path.write_text(text)
    return path
