"""Unit availability: latest status at or before an instant, in event-time order."""

from __future__ import annotations

import json

import pytest
from policy_helpers import book_of, local, make_call, make_status, utc

from dispatchbus.policy import AvailabilityBook, UnitHistory, decide, from_epoch_ms, to_epoch_ms

T0 = to_epoch_ms(utc("2026-05-04T14:00:00"))
MIN = 60_000


def test_epoch_ms_round_trip_is_exact():
    moment = utc("2026-05-04T14:00:00.123")
    assert to_epoch_ms(moment) == 1777903200123
    assert from_epoch_ms(to_epoch_ms(moment)) == moment


def test_no_status_means_none():
    assert UnitHistory().status_at(T0) is None
    assert UnitHistory().is_available(T0)


def test_latest_at_or_before():
    history = UnitHistory([(T0, "busy"), (T0 + 10 * MIN, "available")])
    assert history.status_at(T0 - 1) is None
    assert history.status_at(T0) == "busy"  # at counts
    assert history.status_at(T0 + 10 * MIN - 1) == "busy"
    assert history.status_at(T0 + 10 * MIN) == "available"
    assert history.status_at(T0 + 10**9) == "available"


def test_out_of_order_insertion_lands_in_event_time_order():
    history = UnitHistory()
    history.record(T0 + 20 * MIN, "available")
    history.record(T0, "busy")
    history.record(T0 + 10 * MIN, "out_of_service")
    assert history.entries == [(T0, "busy"), (T0 + 10 * MIN, "out_of_service"), (T0 + 20 * MIN, "available")]
    assert history.status_at(T0 + 15 * MIN) == "out_of_service"


def test_equal_timestamps_later_arrival_wins():
    history = UnitHistory()
    history.record(T0, "available")
    history.record(T0, "busy")
    assert history.status_at(T0) == "busy"
    assert not history.is_available(T0)


def test_recording_the_same_event_twice_is_idempotent():
    history = UnitHistory()
    assert history.record(T0, "busy") is True
    assert history.record(T0 + MIN, "available") is True
    assert history.record(T0, "busy") is False
    assert history.record(T0 + MIN, "available") is False
    assert len(history) == 2
    assert history.status_at(T0 + MIN) == "available"


def test_replay_does_not_change_the_outcome_of_a_same_instant_pair():
    history = UnitHistory()
    history.record(T0, "available")
    history.record(T0, "busy")
    history.record(T0, "available")  # the first event again
    assert history.status_at(T0) == "busy"


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="unknown unit status"):
        UnitHistory().record(T0, "lunch")


def test_prune_keeps_the_latest_entry_before_the_horizon():
    history = UnitHistory([(T0, "busy"), (T0 + MIN, "available"), (T0 + 2 * MIN, "busy"), (T0 + 5 * MIN, "available")])
    before = history.status_at(T0 + 3 * MIN)
    assert history.prune(T0 + 3 * MIN) == 2
    assert history.entries == [(T0 + 2 * MIN, "busy"), (T0 + 5 * MIN, "available")]
    assert history.status_at(T0 + 3 * MIN) == before == "busy"
    assert history.prune(T0 + 3 * MIN) == 0


def test_prune_with_entry_exactly_at_the_horizon():
    history = UnitHistory([(T0, "busy"), (T0 + MIN, "available")])
    assert history.prune(T0 + MIN) == 0  # T0 is the latest before the horizon: kept
    assert history.prune(T0 + MIN + 1) == 1
    assert history.entries == [(T0 + MIN, "available")]


def test_history_json_round_trip():
    history = UnitHistory([(T0, "available"), (T0, "busy"), (T0 + MIN, "out_of_service")])
    data = json.loads(json.dumps(history.to_json()))
    assert data == [[T0, "available"], [T0, "busy"], [T0 + MIN, "out_of_service"]]
    assert UnitHistory.from_json(data) == history


def test_history_from_json_rejects_garbage():
    with pytest.raises(ValueError):
        UnitHistory.from_json([["yesterday", "busy"]])


def test_book_records_events_and_round_trips():
    book = book_of(
        make_status("CRT-1", "busy", utc("2026-05-04T14:00:00")),
        make_status("CRT-2", "out_of_service", utc("2026-05-04T13:00:00")),
        make_status("CRT-1", "available", utc("2026-05-04T14:30:00")),
    )
    assert book.status_at("CRT-1", T0) == "busy"
    assert book.status_at("CRT-1", T0 + 30 * MIN) == "available"
    assert book.status_at("CRT-2", T0) == "out_of_service"
    assert book.status_at("MRU-1", T0) is None and book.is_available("MRU-1", T0)
    assert sorted(book) == ["CRT-1", "CRT-2"] and "CRT-1" in book and len(book) == 2
    copy = AvailabilityBook.from_json(json.loads(json.dumps(book.to_json())))
    assert copy == book
    assert copy.history("CRT-1").entries == book.history("CRT-1").entries


def test_book_prune_sums_units():
    book = book_of(
        make_status("CRT-1", "busy", utc("2026-05-04T10:00:00")),
        make_status("CRT-1", "available", utc("2026-05-04T11:00:00")),
        make_status("CRT-1", "busy", utc("2026-05-04T12:00:00")),
        make_status("CRT-2", "busy", utc("2026-05-04T10:00:00")),
    )
    assert book.prune(to_epoch_ms(utc("2026-05-04T13:00:00"))) == 2
    assert book.status_at("CRT-1", T0) == "busy" and book.status_at("CRT-2", T0) == "busy"


# --- availability in decisions -----------------------------------------------------------

WHEN = local("2026-05-04T10:00")  # Monday


def test_team_with_one_busy_unit_still_takes_the_call(policies):
    book = book_of(make_status("CRT-1", "busy", WHEN))
    decision = decide(policies["911-led"], make_call("welfare_check", WHEN), book)
    assert (decision.target, decision.team) == ("community_responder", "CRT")
    assert decision.reasons[0].endswith("with CRT-2 available")


def test_no_unit_available_falls_back_to_police(policies):
    book = book_of(make_status("CRT-1", "busy", WHEN), make_status("CRT-2", "out_of_service", WHEN))
    decision = decide(policies["911-led"], make_call("welfare_check", WHEN), book)
    assert decision.target == "police" and decision.fallback is True and decision.eligible is True
    assert decision.reasons == [
        "fallback.no_unit_available: no unit available for welfare_check at 10:00 America/New_York; police responds",
        "skip.CRT: no unit available (CRT-1 busy, CRT-2 out_of_service)",
    ]


def test_status_after_the_call_does_not_count(policies):
    book = book_of(
        make_status("CRT-1", "busy", local("2026-05-04T10:00:00.001")),
        make_status("CRT-2", "busy", local("2026-05-04T09:00")),
    )
    decision = decide(policies["911-led"], make_call("welfare_check", WHEN), book)
    assert decision.team == "CRT"
    assert decision.reasons[0].endswith("with CRT-1 available")


def test_status_recorded_late_but_timed_earlier_counts(policies):
    book = AvailabilityBook()
    book.record(make_status("CRT-1", "available", local("2026-05-04T10:30")))
    book.record(make_status("CRT-2", "busy", local("2026-05-04T08:00")))
    book.record(make_status("CRT-1", "busy", local("2026-05-04T09:00")))  # arrives last
    decision = decide(policies["911-led"], make_call("welfare_check", WHEN), book)
    assert decision.target == "police" and decision.fallback is True


def test_busy_mru_skips_to_crt_with_reason(policies):
    book = book_of(make_status("MRU-1", "busy", local("2026-05-04T09:30")))
    decision = decide(policies["911-led"], make_call("neighbor_dispute", WHEN), book)
    assert decision.team == "CRT"
    assert decision.reasons[1] == "skip.MRU: no unit available (MRU-1 busy)"


def test_unit_available_again_counts(policies):
    book = book_of(
        make_status("CRT-1", "busy", local("2026-05-04T08:00")),
        make_status("CRT-2", "busy", local("2026-05-04T08:00")),
        make_status("CRT-2", "available", WHEN),
    )
    decision = decide(policies["911-led"], make_call("welfare_check", WHEN), book)
    assert decision.team == "CRT" and decision.reasons[0].endswith("with CRT-2 available")
