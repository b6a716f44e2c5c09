"""The ACL plan: what each principal may do on the bus, derived from the topic catalogue.

One principal per agency (``User:<agency>``) and one per listed PSAP (``User:psap-<id>``). A
principal may WRITE the topics its agency produces and READ those it consumes, as the catalogue
says; DESCRIBE goes with either. Beyond the topics: each agency READs its consumer groups
(prefix ``<agency>-``; the worker's group is its app id), the bus owns the worker's internal
topics (prefix ``<app_id>-``), ops creates the catalogue's topics. Everything else is denied
(brokers run with ``allow.everyone.if.no.acl.found=false``).

:func:`plan` is the one source: ``deploy/acls.md`` and ``deploy/acls.json`` are rendered from
it, and ``dispatchbus acls apply`` creates its ACLs through the admin API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from .. import catalogue
from ..catalogue import CATALOGUE, Agency, TopicSpec
from ..settings import Settings

ResourceType = Literal["TOPIC", "GROUP"]
PatternType = Literal["LITERAL", "PREFIXED"]


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: ``principal`` may ``operation`` the ``resource`` named ``name`` (from any host)."""

    principal: str
    resource: ResourceType
    name: str
    pattern: PatternType
    operation: str

    def covers(self, resource: ResourceType, name: str) -> bool:
        if resource != self.resource:
            return False
        return name == self.name if self.pattern == "LITERAL" else name.startswith(self.name)


def principal(agency: Agency) -> str:
    return f"User:{agency.value}"


def psap_principal(psap_id: str) -> str:
    return f"User:psap-{psap_id}"


def topic_operations(agency: Agency, spec: TopicSpec) -> tuple[str, ...]:
    """READ and/or WRITE (and then DESCRIBE) that ``agency`` has on ``spec``, from the catalogue."""
    ops = tuple(op for op, ok in (("READ", agency in spec.consumers), ("WRITE", agency in spec.producers)) if ok)
    return (*ops, "DESCRIBE") if ops else ()


def _topic(who: str, name: str, ops: Iterable[str], pattern: PatternType = "LITERAL") -> list[Grant]:
    return [Grant(who, "TOPIC", name, pattern, op) for op in ops]


def consumer_group(agency: Agency, settings: Settings) -> tuple[str, PatternType]:
    """The consumer groups ``agency`` may use: the worker's app id for the bus, else the prefix ``<agency>-``."""
    if agency is Agency.BUS:
        return settings.worker.app_id, "LITERAL"
    return f"{agency.value}-", "PREFIXED"


def psap_grants(psap_id: str, settings: Settings) -> list[Grant]:
    """A PSAP reads its own feedback topics and groups ``psap.<id>.*``; the bus writes those topics."""
    grants: list[Grant] = []
    for template in catalogue.PSAP_TOPICS:
        name = settings.topics.prefix + template.name_for(psap_id)
        grants += _topic(psap_principal(psap_id), name, ("READ", "DESCRIBE"))
        grants += _topic(principal(Agency.BUS), name, ("WRITE", "DESCRIBE"))
    grants.append(Grant(psap_principal(psap_id), "GROUP", f"psap.{psap_id}.", "PREFIXED", "READ"))
    return grants


def agency_grants(agency: Agency, settings: Settings) -> list[Grant]:
    """Everything ``agency``'s principal may do (not a PSAP's: see :func:`psap_grants`)."""
    who = principal(agency)
    grants: list[Grant] = []
    reads = False
    for spec in CATALOGUE:
        ops = topic_operations(agency, spec)
        reads = reads or "READ" in ops
        grants += _topic(who, spec.full_name(settings.topics), ops)
    if reads:
        group, pattern = consumer_group(agency, settings)
        grants.append(Grant(who, "GROUP", group, pattern, "READ"))
    if agency is Agency.BUS:
        grants += _topic(who, f"{settings.worker.app_id}-", ("CREATE", "READ", "WRITE", "DESCRIBE"), "PREFIXED")
    if agency is Agency.OPS:
        grants += _topic(who, settings.topics.prefix, ("CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"), "PREFIXED")
    return grants


def connector_grants(settings: Settings) -> list[Grant]:
    """Each sink connector's consumer group, READ for the agency it runs as."""
    from .deployment import CONNECTORS

    return [Grant(principal(c.agency), "GROUP", f"connect-{c.name}", "LITERAL", "READ")
            for c in CONNECTORS if c.direction == "sink"]


def check_restricted_readers() -> None:
    """A restricted topic (the dead-letter topic) is for ops alone to read."""
    for spec in CATALOGUE:
        if spec.restricted and set(spec.consumers) != {Agency.OPS}:
            raise ValueError(f"{spec.name} is restricted: only ops may read it, the catalogue says {spec.consumers}")


def plan(settings: Settings) -> tuple[Grant, ...]:
    """Every ACL of the deployment ``settings`` describe (its prefix, app id and listed PSAPs), sorted."""
    check_restricted_readers()
    grants: list[Grant] = []
    for agency in Agency:
        if agency is not Agency.PSAP:
            grants += agency_grants(agency, settings)
    for psap in settings.feedback.psap_ids:
        grants += psap_grants(psap, settings)
    grants += connector_grants(settings)
    return tuple(sorted(set(grants)))


def plan_json(grants: Iterable[Grant]) -> str:
    return json.dumps({"acls": [asdict(g) for g in grants]}, indent=2) + "\n"


def allowed(grants: Iterable[Grant], who: str, operation: str, resource: ResourceType, name: str) -> bool:
    """Whether ``grants`` let ``who`` do ``operation`` (READ or WRITE imply DESCRIBE, as Kafka has it)."""
    implied = {"DESCRIBE": {"DESCRIBE", "READ", "WRITE", "DELETE", "ALTER"}}.get(operation, {operation})
    return any(g.principal == who and g.operation in implied and g.covers(resource, name) for g in grants)


# --- applying it through the admin API -----------------------------------------------


def _binding(grant: Grant):
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    return AclBinding(
        ResourceType[grant.resource], grant.name, ResourcePatternType[grant.pattern], grant.principal, "*",
        AclOperation[grant.operation], AclPermissionType.ALLOW,
    )


def existing(admin, principals: Iterable[str], timeout: float = 30.0) -> set[Grant]:
    """The ALLOW ACLs the cluster holds for ``principals`` (on topics and groups), as grants."""
    from confluent_kafka.admin import (
        AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType, ResourceType,
    )

    found: set[Grant] = set()
    for who in sorted(set(principals)):
        query = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, who, None,
                                 AclOperation.ANY, AclPermissionType.ALLOW)
        for b in admin.describe_acls(query, request_timeout=timeout).result():
            if b.restype.name in ("TOPIC", "GROUP") and b.host == "*":
                found.add(Grant(b.principal, b.restype.name, b.name, b.resource_pattern_type.name, b.operation.name))
    return found


@dataclass(frozen=True)
class AclDiff:
    missing: tuple[Grant, ...]
    extra: tuple[Grant, ...]

    def lines(self) -> list[str]:
        return [f"+ {_describe(g)}" for g in self.missing] + [f"- {_describe(g)}" for g in self.extra]


def _describe(g: Grant) -> str:
    pattern = "" if g.pattern == "LITERAL" else f" ({g.pattern.lower()})"
    return f"{g.principal} {g.operation} {g.resource.lower()} {g.name}{pattern}"


def diff(admin, grants: tuple[Grant, ...], timeout: float = 30.0) -> AclDiff:
    """What the cluster lacks of ``grants``, and what it allows their principals beyond them."""
    have = existing(admin, {g.principal for g in grants}, timeout)
    wanted = set(grants)
    return AclDiff(tuple(sorted(wanted - have)), tuple(sorted(have - wanted)))


def apply(admin, grants: tuple[Grant, ...], *, prune: bool = False, timeout: float = 30.0) -> AclDiff:
    """Create the missing ACLs (and with ``prune`` delete the extra ones); returns the diff it found."""
    from confluent_kafka.admin import AclBindingFilter

    found = diff(admin, grants, timeout)
    if found.missing:
        for future in admin.create_acls([_binding(g) for g in found.missing], request_timeout=timeout).values():
            future.result()
    if prune and found.extra:
        filters = []
        for g in found.extra:
            b = _binding(g)
            filters.append(AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host,
                                            b.operation, b.permission_type))
        for future in admin.delete_acls(filters, request_timeout=timeout).values():
            future.result()
    return found
