"""Reference policies adjusted for live tests (so they do not depend on the hour they run at)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ALWAYS_OPEN = {
    "daily: 07:00-23:00": "daily: 00:00-24:00",  # the community responder team
    "daily: 08:00-22:00": "daily: 00:00-24:00",  # the hotline
}


def policy_file(tmp_path: Path, model: str = "911-led", *, always_open: bool = True, **timeouts: int) -> Path:
    """The reference policy of ``model``; teams and hotline open around the clock; some timeouts shortened."""
    text = (resources.files("dispatchbus.policy.reference") / f"{model}.yaml").read_text()
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
