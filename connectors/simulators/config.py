"""The simulators' configuration file (YAML), validated by pydantic.

A file may start from another one with ``extends: other.yaml`` (resolved next
to the file, else among the packaged files) and override any part of it;
mappings merge key by key, lists and values replace. Errors name the file,
the line and the field, never the offending value.

Delays are distributions in simulated seconds, written as a number (fixed),
``{median: 45, p90: 120}`` (lognormal), ``{min: 5, max: 20}`` (uniform) or
with an explicit ``kind``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dispatchbus.contract.events import CallType, ConsultResolution, OutcomeCategory

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_DIR / "default.yaml"
DEMO_CONFIG = PACKAGE_DIR / "demo.yaml"

_Z90 = 1.2815515655446004
"""The standard normal's 90th percentile."""

K = TypeVar("K")


class ConfigError(ValueError):
    """A configuration file that cannot be read or does not validate."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- distributions ----------------------------------------------------------------


class LogNormal(_Model):
    """Lognormal delay given by its median and 90th percentile; ``cap`` bounds a sample."""

    kind: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0)
    p90: float = Field(gt=0)
    cap: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogNormal:
        if self.p90 < self.median:
            raise ValueError("p90 must be at least the median")
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p90 / self.median) / _Z90

    def sample(self, rng: random.Random) -> float:
        value = rng.lognormvariate(math.log(self.median), self.sigma)
        return min(value, self.cap) if self.cap is not None else value


class Uniform(_Model):
    """Uniform delay between ``min`` and ``max``."""

    kind: Literal["uniform"] = "uniform"
    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.max < self.min:
            raise ValueError("max must be at least min")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.min, self.max)


class Fixed(_Model):
    """Always the same delay."""

    kind: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def sample(self, rng: random.Random) -> float:
        return self.value


def _infer_kind(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return {"kind": "fixed", "value": value}
    if isinstance(value, Mapping) and "kind" not in value:
        if "median" in value or "p90" in value:
            return {"kind": "lognormal", **value}
        if "min" in value or "max" in value:
            return {"kind": "uniform", **value}
        if "value" in value:
            return {"kind": "fixed", **value}
    return value


Delay = Annotated[LogNormal | Uniform | Fixed, Field(discriminator="kind"), BeforeValidator(_infer_kind)]
"""A delay distribution in simulated seconds."""

def _clock_time(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``22:00`` as the base-60 integer 1320: turn it back into a time."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]
"""A local time of day, ``"HH:MM"``."""

Probability = Annotated[float, Field(ge=0, le=1)]
Weight = Annotated[float, Field(ge=0)]


def choose(rng: random.Random, weights: Mapping[K, float]) -> K:
    """One key of ``weights`` drawn with probability proportional to its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _positive_total(weights: Mapping[Any, float]) -> Mapping[Any, float]:
    if not weights or sum(weights.values()) <= 0:
        raise ValueError("needs at least one positive weight")
    return weights


# --- 911 CAD ----------------------------------------------------------------------


class ScreeningOdds(_Model):
    """Probability that each screening answer is yes, for one call type."""

    weapon_present: Probability = 0.0
    violence_in_progress: Probability = 0.0
    medical_emergency: Probability = 0.0
    imminent_danger: Probability = 0.0


class CallTypeProfile(_Model):
    """How calls of one type look: priority weights and screening odds."""

    label: str | None = Field(default=None, description="Words for the synthetic narrative.")
    priority: Annotated[dict[Annotated[int, Field(ge=1, le=5)], Weight], AfterValidator(_positive_total)]
    screening: ScreeningOdds = ScreeningOdds()


def _parse_hours(text: str) -> frozenset[int]:
    """``"22-06"`` → {22, 23, 0, …, 5}: start hour inclusive, end exclusive, wrapping midnight."""
    try:
        start_s, end_s = str(text).split("-")
        start, end = int(start_s), int(end_s)
    except ValueError:
        raise ValueError("hours must look like '22-06' (start hour, end hour)") from None
    if not (0 <= start <= 23 and 0 <= end <= 24):
        raise ValueError("hours must be between 0 and 24")
    if start == end % 24:
        return frozenset(range(24))
    return frozenset(h % 24 for h in range(start, end if end > start else end + 24))


class HourBand(_Model):
    """Multiplies the base weights of some call types during some hours of the day."""

    hours: str = Field(description="Local hours, start inclusive, end exclusive, e.g. '22-06'.")
    factors: dict[CallType, Weight]

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, v: str) -> str:
        _parse_hours(v)
        return v

    @property
    def hour_set(self) -> frozenset[int]:
        return _parse_hours(self.hours)


class CallMix(_Model):
    """Weights per call type, adjusted by hour-of-day bands."""

    base: Annotated[dict[CallType, Weight], AfterValidator(_positive_total)]
    by_hour: list[HourBand] = Field(default_factory=list)

    def for_hour(self, hour: int) -> dict[str, float]:
        """The call-type weights in local hour ``hour`` (0-23)."""
        weights = dict(self.base)
        for band in self.by_hour:
            if hour in band.hour_set:
                for call_type, factor in band.factors.items():
                    weights[call_type] = weights.get(call_type, 0.0) * factor
        return weights


class Zone(_Model):
    """A dispatch zone: calls fall uniformly within ``radius_km`` of its centre."""

    name: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(default=2.0, gt=0)
    weight: Weight = 1.0


class DispatchTimeline(_Model):
    """Delays of a unit's timeline after a request is accepted, and how calls end."""

    assign_delay: Delay = Field(description="Accepted → unit assigned.")
    turnout: Delay = Field(description="Assigned → en route.")
    travel: Delay = Field(description="En route → on scene.")
    on_scene: Delay = Field(description="On scene → cleared.")
    outcomes: Annotated[dict[OutcomeCategory, Weight], AfterValidator(_positive_total)]


class AgencyDispatch(DispatchTimeline):
    """Police, EMS or fire as dispatched by the CAD itself."""

    team: str = Field(min_length=1, description="Team name reported with DispatchAssigned.")
    unit_prefix: str = Field(min_length=1)
    units: int = Field(ge=1, description="Units in the pool; a request waits when all are busy.")
    accept_delay: Delay


class CadConfig(_Model):
    """The 911 CAD: call volume and mix, zones, and its own police/EMS/fire dispatch."""

    psap_id: str = Field(default="PSAP-SIM-01", min_length=1)
    call_id_prefix: str = Field(default="SIM", min_length=1)
    call_takers: int = Field(default=6, ge=0, description="Call takers on shift, taking calls in turn (0: none named).")
    calls_per_day: float = Field(gt=0)
    hourly_volume: list[Weight] = Field(min_length=24, max_length=24, description="Relative volume per local hour.")
    call_mix: CallMix
    call_types: dict[CallType, CallTypeProfile]
    zones: list[Zone] = Field(min_length=1)
    update_probability: Probability = 0.0
    update_delay: Delay = 120.0
    close_calls: bool = Field(default=True, description="Close calls the CAD dispatched itself once cleared.")
    close_delay: Delay = 30.0
    dispatch: dict[Literal["police", "ems", "fire"], AgencyDispatch]

    @field_validator("hourly_volume")
    @classmethod
    def _some_volume(cls, v: list[float]) -> list[float]:
        if sum(v) <= 0:
            raise ValueError("needs at least one positive weight")
        return v

    @model_validator(mode="after")
    def _known_types(self) -> CadConfig:
        unknown = set(self.call_mix.base) - set(self.call_types)
        for band in self.call_mix.by_hour:
            unknown |= set(band.factors) - set(self.call_types)
        if unknown:
            raise ValueError(f"call_mix names call types without a profile in call_types: {', '.join(sorted(unknown))}")
        if sum(z.weight for z in self.zones) <= 0:
            raise ValueError("zones need at least one positive weight")
        return self

    def calls_per_second(self, hour: int) -> float:
        """Mean arrival rate in local hour ``hour``, in calls per simulated second."""
        return self.calls_per_day * self.hourly_volume[hour] / sum(self.hourly_volume) / 3600.0


# --- agencies ---------------------------------------------------------------------


class Consult(_Model):
    """How a consult ends: resolved by phone with some probability, else per the weights."""

    resolved_by_phone: Probability
    otherwise: Annotated[dict[ConsultResolution, Weight], AfterValidator(_positive_total)]

    def draw(self, rng: random.Random) -> str:
        if rng.random() < self.resolved_by_phone:
            return "resolved_by_phone"
        return choose(rng, self.otherwise)


class ConsoleConfig(_Model):
    """Embedded clinicians in the call center."""

    clinicians: int = Field(default=2, ge=1, description="Consults at once; further requests wait.")
    no_answer_probability: Probability = 0.0
    accept_delay: Delay
    consult_duration: Delay
    consult: Consult


class HotlineConfig(_Model):
    """The external crisis hotline: opening hours and scope on local time."""

    opens: ClockTime = time(8, 0)
    closes: ClockTime = time(22, 0)
    scope: list[CallType] = Field(min_length=1)
    no_answer_probability: Probability = 0.0
    decline_probability: Probability = Field(default=0.0, description="Declines with no_capacity.")
    decline_delay: Delay = Field(default=5.0, description="Request → automatic 'closed' decline.")
    answer_delay: Delay
    consult_duration: Delay
    consult: Consult

    def is_open(self, local: datetime) -> bool:
        """Whether the hotline is open at local wall time ``local`` (closing may pass midnight)."""
        t = local.time().replace(tzinfo=None)
        if self.opens == self.closes:
            return True
        if self.opens < self.closes:
            return self.opens <= t < self.closes
        return t >= self.opens or t < self.closes


class UnitConfig(_Model):
    """One community responder unit."""

    unit_id: str = Field(min_length=1)
    team: str = Field(min_length=1)


class RespondersConfig(DispatchTimeline):
    """Community responder teams and their units."""

    units: list[UnitConfig] = Field(min_length=1)
    announce_on_start: bool = Field(
        default=False, description="Also emit UnitStatus available at start (the CAD does by default)."
    )
    no_answer_probability: Probability = 0.0
    acknowledge_delay: Delay
    police_backup_probability: Probability = 0.0

    @field_validator("units")
    @classmethod
    def _unique(cls, v: list[UnitConfig]) -> list[UnitConfig]:
        ids = [u.unit_id for u in v]
        if len(ids) != len(set(ids)):
            raise ValueError("unit ids must be unique")
        return v

    @property
    def teams(self) -> dict[str, list[str]]:
        teams: dict[str, list[str]] = {}
        for unit in self.units:
            teams.setdefault(unit.team, []).append(unit.unit_id)
        return teams


class SimulatorConfig(_Model):
    """Everything the simulators read from their YAML file."""

    seed: int = 0
    speed: float = Field(default=1.0, gt=0, description="Simulated seconds per real second.")
    start_time: datetime | Annotated[time, BeforeValidator(_clock_time)] | None = Field(
        default=None,
        description="Simulated clock at start: a date-time (naive ones are in `timezone`), "
        "a local time of day (today) or empty for now.",
    )
    timezone: str = "America/New_York"
    cad: CadConfig
    console: ConsoleConfig
    hotline: HotlineConfig
    responders: RespondersConfig

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def start(self, today: datetime | None = None) -> datetime | None:
        """The aware start time, if one is set; a time of day is taken on ``today`` (default: now)."""
        value = self.start_time
        if value is None:
            return None
        if isinstance(value, time):
            day = (today or datetime.now(self.tz)).astimezone(self.tz).date()
            return datetime.combine(day, value.replace(tzinfo=None), tzinfo=self.tz)
        if value.tzinfo is None:
            return value.replace(tzinfo=self.tz)
        return value

    def with_overrides(self, **changes: Any) -> SimulatorConfig:
        """A validated copy with fields replaced; mappings merge, e.g. ``console={"clinicians": 1}``."""
        return SimulatorConfig.model_validate(_merge(self.model_dump(), changes))


# --- loading, with file/line/field errors -----------------------------------------


@dataclass(frozen=True)
class _Source:
    path: str
    node: yaml.Node | None


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {exc.problem or exc.context}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of settings at the top level")
    return data, node


def _resolve_extends(ref: object, base: Path, source: _Source) -> Path:
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"{source.path}:{_line_of(source.node, ('extends',))}: field 'extends': expected a file name")
    candidate = (base.parent / ref).resolve()
    if candidate.exists():
        return candidate
    packaged = PACKAGE_DIR / ref
    if packaged.exists():
        return packaged
    raise ConfigError(f"{source.path}:{_line_of(source.node, ('extends',))}: field 'extends': no such file {ref!r}")


_DISTRIBUTION_KEYS = frozenset({"kind", "median", "p90", "cap", "min", "max", "value"})


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge, except distributions, which replace."""
    out = dict(base)
    for key, value in override.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and not (_DISTRIBUTION_KEYS & (value.keys() | out[key].keys()))
        ):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[_Source]]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle")
    data, node = _read_yaml(path)
    source = _Source(str(path), node)
    ref = data.pop("extends", None)
    if ref is None:
        return data, [source]
    parent_data, parent_sources = _load_chain(_resolve_extends(ref, path, source), (*seen, path))
    return _merge(parent_data, data), [source, *parent_sources]


_NOT_IN_FILE = frozenset({"lognormal", "uniform", "fixed", "[key]"})
"""Parts of a pydantic error location that name no key of the file."""


def _walk(node: yaml.Node | None, loc: Sequence[Any]) -> tuple[int, yaml.Node | None]:
    """How deep ``loc`` goes into ``node``, and the deepest node (a mapping's key node) reached."""
    depth, found = 0, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    found, node = key_node, value_node
                    depth += 1
                    break
            else:
                # pydantic adds union tags and markers that are not in the file
                if part in _NOT_IN_FILE:
                    continue
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            found = node
            depth += 1
        else:
            break
    return depth, found


def _line_of(node: yaml.Node | None, loc: Sequence[Any]) -> int:
    _, found = _walk(node, loc)
    target = found if found is not None else node
    return target.start_mark.line + 1 if target is not None else 1


def _locate(sources: list[_Source], loc: Sequence[Any]) -> tuple[str, int]:
    """The file and line that set field ``loc``: the deepest match, nearest file first."""
    best: tuple[int, str, int] | None = None
    for source in sources:
        depth, found = _walk(source.node, loc)
        if found is None:
            continue
        if best is None or depth > best[0]:
            best = (depth, source.path, found.start_mark.line + 1)
    if best is None:
        return sources[0].path, 1
    return best[1], best[2]


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in _NOT_IN_FILE]
    return ".".join(parts) or "<top>"


def config_from_dict(data: Mapping[str, Any], *, source: str = "<config>") -> SimulatorConfig:
    """Validate an already-parsed mapping (errors name ``source`` and the field)."""
    try:
        return SimulatorConfig.model_validate(dict(data))
    except ValidationError as exc:
        lines = [
            f"{source}: field '{_field_name(err['loc'])}': {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigError("\n".join(lines)) from None


def load_config(path: str | Path | None = None) -> SimulatorConfig:
    """Read and validate a simulator config file (default: the packaged ``default.yaml``).

    Raises :class:`ConfigError` whose message has one ``file:line: field 'a.b': message``
    line per problem.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    data, sources = _load_chain(path)
    try:
        return SimulatorConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        errors = exc.errors(include_input=False, include_url=False)
        for err in errors:
            file, line = _locate(sources, err["loc"])
            lines.append(f"{file}:{line}: field '{_field_name(err['loc'])}': {err['msg']}")
        if any(err["type"] == "missing" and len(err["loc"]) == 1 for err in errors):
            lines.append("hint: start the file with 'extends: default.yaml' to override only some settings")
        raise ConfigError("\n".join(lines)) from None
