"""The data-minimisation rule: what a call center may learn about how its call ended."""

from __future__ import annotations

import dataclasses
import json

from dispatchbus.contract import events as ev
from dispatchbus.contract.jsonlines import to_json_line
from dispatchbus.contract.serde import AvroSerde, ContractIds
from dispatchbus.feedback.builder import build_feedback
from dispatchbus.feedback.digest import DigestBook
from dispatchbus.sharing.call_centers import (
    CALL_CENTER_FIELDS,
    NEVER_SHARED,
    ROUTE_HOP_FIELDS,
    ROUTE_STEP_CODES,
    for_call_center,
    route_hop,
)

from ..feedback.calls import LAT, NARRATIVE, NOTES, SENSITIVE, UNIT, Call, at, phone_call, responder_call


def test_every_feedback_field_is_classified():
    # A new OutcomeFeedback field is withheld until someone adds it here on purpose.
    assert set(ev.OutcomeFeedback.model_fields) == CALL_CENTER_FIELDS
    assert set(ev.RouteHop.model_fields) == ROUTE_HOP_FIELDS
    assert set(ROUTE_STEP_CODES) == set(ev.RouteStep.__args__)


def test_nothing_never_shared_is_a_feedback_field():
    for name in NEVER_SHARED:
        assert name not in CALL_CENTER_FIELDS and name not in ROUTE_HOP_FIELDS
        assert name not in ev.OutcomeFeedback.model_fields and name not in ev.RouteHop.model_fields


def test_fields_not_allow_listed_are_dropped():
    candidate = {
        "call_id": "C1", "psap_id": "PSAP-1", "outcome_category": "resolved_on_scene",
        "notes": NOTES, "narrative": NARRATIVE, "location": {"lat": LAT}, "unit_id": UNIT,
        "subject_name": "Jane Roe", "priority": 2,
        "route": [{"agency": "community_responder", "team": "CRT", "at": at(0), "kind": "decided",
                   "code": "team.assigned", "unit_id": UNIT, "detail": NOTES}],
    }
    shared = for_call_center(candidate)
    assert set(shared) == {"call_id", "psap_id", "outcome_category", "route"}
    assert shared["route"] == [ev.RouteHop(agency="community_responder", team="CRT", at=at(0), kind="decided",
                                           code="team.assigned")]


def test_a_hop_code_travels_only_from_its_closed_set():
    assert route_hop("decided", "police", None, at(0), "gate.weapon").code == "gate.weapon"
    assert route_hop("decided", "police", None, at(0), "gate.weapon: knife in hand").code is None
    assert route_hop("declined", "external_hotline", None, at(0), "closed").code == "closed"
    assert route_hop("declined", "external_hotline", None, at(0), NOTES).code is None
    assert route_hop("consult_result", "embedded_professional", None, at(0), "resolved_by_phone").code == "resolved_by_phone"
    assert route_hop("cleared", "community_responder", "CRT", at(0), "no_contact").code == "no_contact"
    assert route_hop("cleared", "community_responder", "CRT", at(0), NOTES).code is None
    assert route_hop("dispatched", "police", None, at(0), "anything").code is None
    assert route_hop("received", "police", None, at(0), None) is None, "steps not listed are not shared"
    assert route_hop("en_route", "police", None, at(0), None) is None
    assert route_hop("decided", UNIT, None, at(0), None) is None, "only known agencies"


def _sensitive_timeline_feedbacks() -> list[ev.OutcomeFeedback]:
    out = []
    for c in (responder_call(backup=True), phone_call()):
        # Even a timeline that (wrongly) kept the narrative must not leak it.
        tl = dataclasses.replace(c.timeline, call=c.timeline.call.model_copy(update={"narrative": NARRATIVE}))
        out.append(build_feedback(tl, c.ended_by))
    closed = Call("K1")
    closed.feed(closed.call())
    closing = ev.CallClosed(event_id=closed._id(), call_id="K1", closed_at=at(100),
                            disposition="SYNTHETIC-NARRATIVE free text from the CAD")
    closed.feed(closing)
    out.append(build_feedback(closed.timeline, closing))
    return out


def test_sensitive_values_never_reach_a_feedback_event_in_json_or_avro():
    serde = AvroSerde(ContractIds())
    feedbacks = _sensitive_timeline_feedbacks()
    assert len(feedbacks) == 3
    book = DigestBook({})
    digests = [d for fb in feedbacks for d in book.apply(fb).digests]
    for event in (*feedbacks, *digests):
        text = to_json_line(event).encode()
        avro = serde.encode(event, "topic")
        for marker in SENSITIVE:
            assert marker not in text, (type(event).__name__, marker)
            assert marker not in avro, (type(event).__name__, marker)
        assert serde.decode(avro) == event
        assert not any(f"\"{name}\"".encode() in text for name in NEVER_SHARED)
    for fb in feedbacks:
        assert set(json.loads(to_json_line(fb))) - {"type"} <= CALL_CENTER_FIELDS
        assert fb.route and all(h.code is None or h.code in ROUTE_STEP_CODES[h.kind] for h in fb.route)
