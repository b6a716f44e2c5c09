"""The timeline as a value: its copy for a transition and its stored JSON form."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pydantic import ValidationError

from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from dispatchbus.sharing.agencies import handoff_update, handoff_withdrawal
from tests.support.policies import reference as load_reference_policy

from .scenario import Script


def _full_timeline() -> Timeline:
    """A routed call whose every field but the flags differs from its default and from every other field."""
    s = Script()
    tl, _ = apply(None, s.call(), Context(load_reference_policy("911-led"), AvailabilityBook()))
    leg = tl.pending
    notice = dict(handoff=leg.handoff_id, agency=leg.agency, team="team-1", trigger=tl.decisions[0].event_id,
                  at=s.at(35))
    return dataclasses.replace(
        tl, status="accepted", holder="community_responder", holder_team="team-1",
        legs=[leg._replace(state="accepted", accepted_at=s.at(30), units=("CRT-9",))],
        accepted_at=s.at(30), dispatched_at=s.at(40),
        on_scene_at=s.at(50), ended_at=s.at(60), outcome="resolved_on_scene", last_decisions=tl.decisions * 2,
        last_updates=[handoff_update(tl.call, **notice)],
        last_withdrawals=[handoff_withdrawal(tl.call, **notice, reason="superseded", code="gate.weapon",
                                             decision_id=None)],
    )


def test_every_field_is_set_in_the_fixture_so_a_field_copied_into_the_wrong_place_shows():
    tl = _full_timeline()
    defaults = Timeline(call_id="other")
    values = [repr(getattr(tl, f.name)) for f in dataclasses.fields(Timeline) if f.type != "bool"]
    assert len(set(values)) == len(values)
    for f in dataclasses.fields(Timeline):
        if f.type != "bool":
            assert getattr(tl, f.name) != getattr(defaults, f.name), f.name


def test_evolve_copies_every_field_and_gives_fresh_lists_to_append_to():
    tl = _full_timeline()
    assert tl.evolve() == tl
    for flag in (f.name for f in dataclasses.fields(Timeline) if f.type == "bool"):
        others_false = {f.name: f.name == flag for f in dataclasses.fields(Timeline) if f.type == "bool"}
        one = dataclasses.replace(tl, **others_false)
        assert one.evolve() == one, flag
    copy = tl.evolve()
    for name in ("decisions", "hops", "seen"):
        assert getattr(copy, name) is not getattr(tl, name), name
    copy.hops.append(copy.hops[0])
    copy.seen.append("x")
    copy.decisions.append(copy.decisions[0])
    assert copy != tl and len(tl.hops) == len(copy.hops) - 1


def test_json_round_trip_keeps_every_field():
    tl = _full_timeline()
    again = Timeline.from_json(tl.to_json())
    assert again == tl


def test_stored_json_is_validated_and_strict_about_unknown_fields():
    data = json.loads(_full_timeline().to_json())
    with pytest.raises(ValidationError, match="not_a_field"):
        Timeline.from_json(json.dumps({**data, "not_a_field": 1}))
    with pytest.raises(ValidationError, match="status"):
        Timeline.from_json(json.dumps({**data, "status": "lost"}))
