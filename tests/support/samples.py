"""Sample contract events for tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from dispatchbus.contract import events as ev

T0 = datetime(2026, 5, 4, 18, 0, tzinfo=timezone.utc)


def screened(**answers: bool | None) -> ev.Screening:
    """A screening where every question was asked and answered no, but for ``answers``."""
    return ev.Screening(**{**{flag: False for flag in ev.Screening.model_fields}, **answers})


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def call(n: int = 1, call_type: str = "mental_health", received_at: datetime = T0, **screening: bool) -> ev.CallReceived:
    return ev.CallReceived(
        event_id=uid(n),
        call_id=f"C{n}",
        psap_id="PSAP-1",
        received_at=received_at,
        call_type=call_type,
        screening=screened(**screening),
        location=ev.Location(lat=40.71, lon=-74.0, zone="Z1"),
        priority=3,
        narrative="synthetic narrative: caller reports a neighbour shouting",
    )


def one_of_each() -> list[ev.Event]:
    """One valid instance of every event type in the contract."""
    loc = ev.Location(lat=40.7, lon=-74.0, zone="Z2")
    h = uid(900)
    out: list[ev.Event] = [
        call(),
        ev.CallUpdated(event_id=uid(2), call_id="C1", updated_at=T0, priority=2),
        ev.CallClosed(event_id=uid(3), call_id="C1", closed_at=T0, disposition="resolved"),
        ev.UnitStatus(event_id=uid(4), unit_id="CRT-1", team="CRT", agency_type="community_responder",
                      status="busy", occurred_at=T0),
        ev.DispatchAssigned(event_id=uid(5), call_id="C1", unit_id="CRT-1", team="CRT",
                            agency_type="community_responder", assigned_at=T0),
        ev.UnitEnRoute(event_id=uid(6), call_id="C1", unit_id="CRT-1", occurred_at=T0),
        ev.UnitOnScene(event_id=uid(7), call_id="C1", unit_id="CRT-1", occurred_at=T0),
        ev.UnitCleared(event_id=uid(8), call_id="C1", unit_id="CRT-1", cleared_at=T0,
                       outcome=ev.Outcome(category="referred_to_services", notes="sensitive")),
        ev.RoutingDecision(event_id=uid(9), call_id="C1", target="community_responder", team="CRT",
                           model="911-led", policy_id="reference", policy_version="1.0.0",
                           reasons=["team.assigned: CRT"], decided_at=T0, eligible=True),
        ev.HandoffRequested(event_id=h, call_id="C1", decision_id=uid(9), agency="community_responder",
                            team="CRT", requested_at=T0, call_type="mental_health", priority=3,
                            location=loc, caution_flags=["weapon_present"]),
        ev.HandoffAccepted(event_id=uid(10), call_id="C1", handoff_id=h, agency="community_responder",
                           accepted_at=T0),
        ev.HandoffDeclined(event_id=uid(11), call_id="C1", handoff_id=h, agency="external_hotline",
                           declined_at=T0, reason="closed"),
        ev.HandoffTimedOut(event_id=uid(12), call_id="C1", handoff_id=h, agency="embedded_professional",
                           timed_out_at=T0, waited_seconds=45.0),
        ev.ConsultResult(event_id=uid(13), call_id="C1", handoff_id=h, agency="embedded_professional",
                         result="resolved_by_phone", completed_at=T0),
        ev.OutcomeFeedback(event_id=uid(14), call_id="C1", psap_id="PSAP-1", closed_at=T0,
                           call_type="mental_health",
                           route=[ev.RouteHop(agency="community_responder", team="CRT", at=T0)],
                           outcome_category="resolved_on_scene", seconds_to_on_scene=600.5),
        ev.DeadLetter(event_id=uid(15), source_topic="x", source_partition=0, source_offset=1,
                      consumer="route_calls", reason="undecodable", original_value=b"\x00\xffraw",
                      failed_at=T0),
        ev.FeedbackDigest(event_id=uid(16), digest_id="PSAP-1/day/2026-05-04", psap_id="PSAP-1", window="day",
                          window_start=T0.replace(hour=0), window_end=T0.replace(hour=0, day=5), timezone="UTC",
                          revision=1, as_of=T0, calls=1, diverted_calls=1, resolved_without_police=1,
                          share_resolved_without_police=1.0, police_backup=0, police_backup_rate=0.0,
                          on_scene_calls=1, median_seconds_to_on_scene=600.5, p90_seconds_to_on_scene=600.5,
                          outcomes=[ev.OutcomeCount(category="resolved_on_scene", calls=1)],
                          routes=[ev.RouteDigest(first_target="community_responder", calls=1,
                                                 outcomes=[ev.OutcomeCount(category="resolved_on_scene", calls=1)],
                                                 resolved_without_police=1, on_scene_calls=1,
                                                 median_seconds_to_on_scene=600.5, p90_seconds_to_on_scene=600.5)]),
        ev.HandoffUpdated(event_id=uid(17), call_id="C1", handoff_id=h, agency="community_responder", team="CRT",
                          updated_at=T0, call_type="mental_health", priority=2, caution_flags=["weapon_present"]),
        ev.HandoffWithdrawn(event_id=uid(18), call_id="C1", handoff_id=h, agency="community_responder", team="CRT",
                            withdrawn_at=T0, reason="superseded", code="gate.weapon", decision_id=uid(9),
                            caution_flags=["weapon_present"]),
    ]
    return out
