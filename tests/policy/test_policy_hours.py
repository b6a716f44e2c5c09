"""Service hours on New York wall time: weekdays, edges, daylight-saving changes."""

from __future__ import annotations

import pytest
from policy_helpers import local, make_call, utc

from dispatchbus.policy import decide, primary_reason_code
from dispatchbus.policy.hours import HoursError, WeeklyHours, parse_range, parse_weekly_hours


def route(policy, call_type, when, book):
    decision = decide(policy, make_call(call_type, when), book)
    return decision.target, decision.team


# --- the parser ------------------------------------------------------------------------


def test_parse_range_minutes():
    assert parse_range("09:00-21:00") == (540, 1260)
    assert parse_range("00:00-24:00") == (0, 1440)
    assert parse_range("7:30-8:05") == (450, 485)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("09:00-25:00", "end 25:00 is not a valid time"),
        ("24:00-24:00", "start 24:00 is not a valid time"),
        ("09:60-10:00", "start 09:60 is not a valid time"),
        ("10:00-10:00", "start 10:00 is not before end 10:00"),
        ("22:00-06:00", "start 22:00 is not before end 06:00"),
        ("9-17", "is not a valid time"),
        ("0900", "is not a time range"),
    ],
)
def test_parse_range_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_range(text)


def test_weekly_hours_groups_and_lists():
    hours = parse_weekly_hours({"weekdays": "09:00-12:00", "sat": ["08:00-10:00", "14:00-16:00"]})
    assert hours.days[0] == ((540, 720),)
    assert hours.days[4] == ((540, 720),)
    assert hours.days[5] == ((480, 600), (840, 960))
    assert hours.days[6] == ()
    assert hours.is_open(5, 14 * 60) and not hours.is_open(5, 12 * 60) and not hours.is_open(6, 600)


@pytest.mark.parametrize(
    ("spec", "key", "message"),
    [
        ({"tues": "09:00-10:00"}, "tues", "unknown weekday 'tues'"),
        ({"daily": "09:00-10:00", "mon": "11:00-12:00"}, "mon", "mon is given twice"),
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "mon", "overlap"),
    ],
)
def test_weekly_hours_errors(spec, key, message):
    with pytest.raises(HoursError, match=message) as info:
        parse_weekly_hours(spec)
    assert info.value.key == key


def test_describe():
    assert WeeklyHours(((),) * 7).describe() == "closed"
    assert parse_weekly_hours({"daily": "07:00-23:00"}).describe() == "daily 07:00-23:00"
    assert parse_weekly_hours({"weekdays": "09:00-21:00"}).describe() == "mon-fri 09:00-21:00"


# --- weekdays and edges ----------------------------------------------------------------


def test_saturday_noise_complaint_skips_mru(policies, empty_book):
    decision = decide(policies["911-led"], make_call("noise_complaint", local("2026-05-09T12:00")), empty_book)
    assert (decision.target, decision.team) == ("community_responder", "CRT")
    assert decision.reasons[1] == "skip.MRU: out of service at 12:00 America/New_York"


def test_weekday_noise_complaint_goes_to_mru_first(policies, empty_book):
    decision = decide(policies["911-led"], make_call("noise_complaint", local("2026-05-08T12:00")), empty_book)
    assert (decision.target, decision.team) == ("community_responder", "MRU")
    assert decision.reasons == ["team.assigned: MRU is in service at 12:00 America/New_York with MRU-1 available"]


@pytest.mark.parametrize(
    ("wall", "team"),
    [
        ("2026-05-04T08:59", "CRT"),  # MRU opens at 09:00
        ("2026-05-04T09:00", "MRU"),  # start inclusive
        ("2026-05-04T20:59", "MRU"),
        ("2026-05-04T21:00", "CRT"),  # end exclusive
    ],
)
def test_mru_edges(policies, empty_book, wall, team):
    assert route(policies["911-led"], "neighbor_dispute", local(wall), empty_book) == ("community_responder", team)


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ("2026-05-04T06:59", ("police", None)),
        ("2026-05-04T07:00", ("community_responder", "CRT")),
        ("2026-05-04T22:59", ("community_responder", "CRT")),
        ("2026-05-04T23:00", ("police", None)),
    ],
)
def test_crt_edges(policies, empty_book, wall, expected):
    assert route(policies["911-led"], "welfare_check", local(wall), empty_book) == expected


def test_late_call_falls_back_for_no_team_in_service(policies, empty_book):
    decision = decide(policies["911-led"], make_call("noise_complaint", local("2026-05-04T23:15")), empty_book)
    assert decision.target == "police" and decision.fallback is True
    assert primary_reason_code(decision) == "fallback.no_team_in_service"
    assert decision.reasons[1:] == [
        "skip.MRU: out of service at 23:15 America/New_York",
        "skip.CRT: out of service at 23:15 America/New_York",
    ]


# --- daylight saving time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Saturday 2026-03-07 is on EST (UTC-5): CRT opens at 12:00 UTC.
        ("2026-03-07T11:59:59", ("police", None)),
        ("2026-03-07T12:00:00", ("community_responder", "CRT")),
        # Sunday 2026-03-08 springs forward at 02:00: CRT opens at 07:00 EDT = 11:00 UTC.
        ("2026-03-08T10:59:59", ("police", None)),
        ("2026-03-08T11:00:00", ("community_responder", "CRT")),
        # ... and closes at 23:00 EDT = 03:00 UTC the next day.
        ("2026-03-09T02:59:59", ("community_responder", "CRT")),
        ("2026-03-09T03:00:00", ("police", None)),
        # Sunday 2026-11-01 falls back at 02:00: CRT closes at 23:00 EST = 04:00 UTC on Nov 2.
        ("2026-11-02T03:59:59", ("community_responder", "CRT")),
        ("2026-11-02T04:00:00", ("police", None)),
        # Saturday 2026-10-31, still EDT: it closed at 03:00 UTC.
        ("2026-11-01T03:00:00", ("police", None)),
    ],
)
def test_crt_hours_across_dst(policies, empty_book, instant, expected):
    assert route(policies["911-led"], "mental_health", utc(instant), empty_book) == expected


def test_spring_forward_gap_is_read_as_local_wall_time(policies, empty_book):
    # 06:59 UTC on 2026-03-08 is 01:59 EST; one minute later it is 03:00 EDT.
    decision = decide(policies["911-led"], make_call("disturbance", utc("2026-03-08T07:00:00")), empty_book)
    assert decision.reasons[-1] == "skip.CRT: out of service at 03:00 America/New_York"


@pytest.mark.parametrize(
    ("instant", "target", "code"),
    [
        ("2026-11-01T11:59:59", "police", "fallback.no_team_in_service"),  # 06:59 EST: all closed
        ("2026-11-01T12:30:00", "community_responder", "team.assigned"),  # 07:30 EST: CRT only
        ("2026-11-01T13:00:00", "external_hotline", "hotline.accepted"),  # 08:00 EST
        ("2026-10-31T11:59:00", "community_responder", "team.assigned"),  # 07:59 EDT
        ("2026-10-31T12:00:00", "external_hotline", "hotline.accepted"),  # 08:00 EDT
    ],
)
def test_hotline_opening_across_fall_back(policies, empty_book, instant, target, code):
    decision = decide(policies["external-hotline"], make_call("substance_use", utc(instant)), empty_book)
    assert (decision.target, primary_reason_code(decision)) == (target, code)
    if target == "community_responder":
        assert decision.reasons[1].startswith("skip.external_hotline: closed at 07:")
