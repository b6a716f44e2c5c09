"""The worker's current routing policy, reloaded when its file changes.

A new file is loaded and fully validated before it replaces the running
policy; a bad file is reported and the previous policy stays in force, so a
bad policy never reaches the agents. In-flight calls keep their state (it
lives in tables, not in the policy); decisions name the version they used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..metrics import POLICY_INFO, POLICY_RELOADS
from .compiled import CompiledPolicy
from .loader import PolicyError, load_policy, load_reference_policy

log = logging.getLogger(__name__)

class PolicyHolder:
    """Holds the policy in force; :meth:`poll` swaps in a changed, valid file."""

    def __init__(self, path: Path | None, default_model: str = "911-led") -> None:
        self.path = Path(path) if path else None
        self._mtime: float | None = None
        self.current: CompiledPolicy = load_policy(self.path) if self.path else load_reference_policy(default_model)
        if self.path:
            self._mtime = self.path.stat().st_mtime
        self._publish()

    def _publish(self) -> None:
        POLICY_INFO.clear()
        p = self.current
        POLICY_INFO.labels(p.id, p.version, p.model).set(1)

    def poll(self) -> bool:
        """Reload the file if it changed; True when a new policy took effect."""
        if self.path is None:
            return False
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            log.error("policy file %s unreadable (%s); keeping %s", self.path, exc.strerror, self.current.label())
            return False
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            policy = load_policy(self.path)
        except (PolicyError, OSError) as exc:
            POLICY_RELOADS.labels("rejected").inc()
            log.error("policy file %s rejected, keeping %s:\n%s", self.path, self.current.label(), exc)
            return False
        old, self.current = self.current, policy
        POLICY_RELOADS.labels("applied").inc()
        self._publish()
        log.info("routing policy %s replaced %s", policy.label(), old.label())
        return True
