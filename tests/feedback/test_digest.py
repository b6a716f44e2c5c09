"""Digest math: counts, shares, median/p90, window assignment by event time, late outcomes, duplicates."""

from __future__ import annotations

import json
import uuid
from collections import UserDict
from datetime import datetime, timedelta, timezone

import pytest

from dispatchbus.contract import events as ev
from dispatchbus.feedback import sketch
from dispatchbus.feedback.builder import build_feedback, feedback_id
from dispatchbus.feedback.digest import DigestBook, classify

from .calls import phone_call, responder_call

DAY = datetime(2026, 5, 4, 14, 0, tzinfo=timezone.utc)  # a Monday


def fb(n: int, first: str, category: str, *, received: datetime = DAY, on_scene: float | None = None,
       police_needed: bool = False, taker: str | None = "CT-1", psap: str = "PSAP-1",
       route: tuple[str, ...] = (), closed_after: float = 3600) -> ev.OutcomeFeedback:
    hops = [ev.RouteHop(agency=a, at=received, kind="decided") for a in (first, *route)]
    return ev.OutcomeFeedback(
        event_id=feedback_id(uuid.UUID(int=n)), call_id=f"C{n}", psap_id=psap, call_taker_id=taker,
        call_type="welfare_check", received_at=received, closed_at=received + timedelta(seconds=closed_after),
        first_target=first, diverted=first in ("community_responder", "embedded_professional", "external_hotline"),
        route=hops, outcome_category=category, police_needed=police_needed, seconds_to_on_scene=on_scene,
        seconds_to_close=closed_after,
    )


MIX = [
    fb(1, "community_responder", "resolved_on_scene", on_scene=600),
    fb(2, "community_responder", "police_backup_requested", on_scene=900, police_needed=True, route=("police",)),
    fb(3, "external_hotline", "resolved_by_phone", taker="CT-2"),
    fb(4, "embedded_professional", "referred_to_services", taker="CT-2"),
    fb(5, "police", "resolved_on_scene", on_scene=300, taker="CT-2"),
    fb(6, "ems", "transported_to_care", on_scene=480),
    fb(7, "community_responder", "no_contact", on_scene=1200),
]


def apply_all(book: DigestBook, feedbacks) -> list:
    return [book.apply(f) for f in feedbacks]


def latest(book: DigestBook, psap: str = "PSAP-1") -> dict:
    return book.psap_view(psap)


def test_psap_day_figures():
    book = DigestBook({})
    apply_all(book, MIX)
    day = latest(book)["day"]
    assert (day["calls"], day["diverted_calls"]) == (7, 5)
    # diverted: 1 resolved, 2 backup, 3 phone, 4 referred, 7 no contact -> 3 resolved without police
    assert (day["resolved_without_police"], day["share_resolved_without_police"]) == (3, 0.6)
    assert (day["police_backup"], day["police_backup_rate"]) == (1, 0.2)
    assert day["on_scene_calls"] == 5
    on_scene = sketch.of([600, 900, 300, 480, 1200])
    assert day["median_seconds_to_on_scene"] == sketch.quantile(on_scene, 0.5) == pytest.approx(600, rel=0.02)
    assert day["p90_seconds_to_on_scene"] == sketch.quantile(on_scene, 0.9) == pytest.approx(1200, rel=0.02)
    assert day["outcomes"] == [
        {"category": "resolved_on_scene", "calls": 2},
        {"category": "resolved_by_phone", "calls": 1},
        {"category": "transported_to_care", "calls": 1},
        {"category": "referred_to_services", "calls": 1},
        {"category": "police_backup_requested", "calls": 1},
        {"category": "no_contact", "calls": 1},
    ]
    routes = {r["first_target"]: r for r in day["routes"]}
    assert list(routes) == ["community_responder", "embedded_professional", "external_hotline", "police", "ems"]
    cr = routes["community_responder"]
    assert (cr["calls"], cr["resolved_without_police"], cr["police_backup"], cr["on_scene_calls"]) == (3, 1, 1, 3)
    assert cr["median_seconds_to_on_scene"] == pytest.approx(900, rel=0.02)
    assert routes["police"]["resolved_without_police"] == 0, "police on the route is not 'without police'"
    assert routes["ems"]["resolved_without_police"] == 1
    assert (day["window"], day["window_start"], day["window_end"]) == ("day", "2026-05-04T00:00:00Z", "2026-05-05T00:00:00Z")
    assert day["revision"] == 7 and day["as_of"] == "2026-05-04T15:00:00Z"


def test_call_taker_digests_split_the_psap():
    book = DigestBook({})
    apply_all(book, MIX)
    view = latest(book)
    takers = {t["call_taker_id"]: t for t in view["call_takers"]}
    assert set(takers) == {"CT-1", "CT-2"}
    ct1, ct2 = takers["CT-1"]["day"], takers["CT-2"]["day"]
    assert (ct1["calls"], ct1["diverted_calls"], ct1["resolved_without_police"], ct1["police_backup"]) == (4, 3, 1, 1)
    assert (ct2["calls"], ct2["diverted_calls"], ct2["share_resolved_without_police"]) == (3, 2, 1.0)
    assert ct1["digest_id"] == "PSAP-1/day/2026-05-04/taker/CT-1"
    assert takers["CT-1"]["week"]["calls"] == 4


def test_each_outcome_yields_the_changed_digests_with_deterministic_ids():
    a, b = DigestBook({}), DigestBook({})
    first = apply_all(a, MIX)
    again = apply_all(b, MIX)
    assert [r.digests for r in first] == [r.digests for r in again]
    one = first[0]
    assert [(d.digest_id, d.revision) for d in one.digests] == [
        ("PSAP-1/day/2026-05-04", 1), ("PSAP-1/day/2026-05-04/taker/CT-1", 1),
        ("PSAP-1/week/2026-05-04", 1), ("PSAP-1/week/2026-05-04/taker/CT-1", 1),
    ]
    assert all(d.causation_id == MIX[0].event_id for d in one.digests)
    ids = {d.event_id for r in first for d in r.digests}
    assert len(ids) == sum(len(r.digests) for r in first), "each revision has its own id"


def test_a_redelivered_feedback_is_counted_once():
    book = DigestBook({})
    assert book.apply(MIX[0]).status == "counted"
    again = book.apply(MIX[0])
    assert again.status == "duplicate" and again.digests == []
    assert latest(book)["day"]["calls"] == 1 and latest(book)["day"]["revision"] == 1
    assert book.apply(MIX[0].model_copy()).status == "duplicate"


def test_a_late_outcome_lands_in_the_day_its_call_was_received():
    book = DigestBook({})
    today = [fb(10 + i, "community_responder", "resolved_on_scene", received=DAY + timedelta(days=1, hours=i))
             for i in range(3)]
    apply_all(book, today)
    # A call received on Monday evening, cleared only on Tuesday night: counted on Monday.
    late = fb(20, "community_responder", "no_contact", received=DAY + timedelta(hours=8), closed_after=30 * 3600)
    result = book.apply(late)
    assert result.status == "counted"
    assert [d.digest_id for d in result.digests] == [
        "PSAP-1/day/2026-05-04", "PSAP-1/day/2026-05-04/taker/CT-1",
        "PSAP-1/week/2026-05-04", "PSAP-1/week/2026-05-04/taker/CT-1",
    ]
    assert set(result.current) == {"week"}, "Monday is no longer the PSAP's current day"
    tuesday = latest(book)
    assert tuesday["date"] == "2026-05-05" and tuesday["day"]["calls"] == 3 and tuesday["week"]["calls"] == 4
    monday = book.psap_view("PSAP-1", datetime(2026, 5, 4).date())
    assert monday["day"]["calls"] == 1 and monday["day"]["outcomes"] == [{"category": "no_contact", "calls": 1}]
    assert tuesday["days"] == ["2026-05-04", "2026-05-05"]


def test_windows_follow_the_configured_time_zone():
    book = DigestBook({}, "America/New_York")
    # 01:30 UTC on Tuesday is 21:30 on Monday in New York.
    result = book.apply(fb(1, "community_responder", "resolved_on_scene", received=datetime(2026, 5, 5, 1, 30, tzinfo=timezone.utc)))
    day = result.digests[0]
    assert day.digest_id == "PSAP-1/day/2026-05-04" and day.timezone == "America/New_York"
    assert day.window_start == datetime(2026, 5, 4, 4, tzinfo=timezone.utc)


def test_outcomes_older_than_the_retention_are_dropped_and_old_windows_pruned():
    store: dict = {}
    book = DigestBook(store, retention_days=10)
    book.apply(fb(1, "community_responder", "resolved_on_scene", received=DAY))
    assert any("|day|2026-05-04" in k for k in store)
    later = book.apply(fb(2, "community_responder", "resolved_on_scene", received=DAY + timedelta(days=20)))
    assert later.pruned >= 5  # Monday's day, week (PSAP and call taker) and its seen ids
    assert not any("2026-05-04" in k for k in store)
    too_late = book.apply(fb(3, "community_responder", "resolved_on_scene", received=DAY + timedelta(days=2)))
    assert too_late.status == "too_late" and too_late.digests == []
    assert book.apply(fb(1, "community_responder", "resolved_on_scene", received=DAY)).status == "too_late"
    inside = book.apply(fb(4, "community_responder", "resolved_on_scene", received=DAY + timedelta(days=12)))
    assert inside.status == "counted"


def test_psaps_are_kept_apart():
    book = DigestBook({})
    apply_all(book, [fb(1, "police", "resolved_on_scene", psap="PSAP-1"),
                     fb(2, "community_responder", "resolved_on_scene", psap="PSAP|2", taker="A|B")])
    assert book.psaps() == ["PSAP-1", "PSAP|2"]
    other = book.psap_view("PSAP|2")
    assert other["day"]["calls"] == 1 and other["call_takers"][0]["call_taker_id"] == "A|B"
    assert latest(book)["day"]["diverted_calls"] == 0 and latest(book)["day"]["share_resolved_without_police"] is None
    assert book.psap_view("PSAP-9") is None
    assert [(d["psap_id"], d["window"]) for d in book.summaries()] == [
        ("PSAP-1", "day"), ("PSAP-1", "week"), ("PSAP|2", "day"), ("PSAP|2", "week")]


class JsonStore(UserDict):
    """A mapping that keeps values as JSON text, as the worker's table changelog does."""

    def __setitem__(self, key, value):
        super().__setitem__(key, json.dumps(value))

    def __getitem__(self, key):
        return json.loads(super().__getitem__(key))


def test_state_survives_json_serialisation():
    plain, stored = DigestBook({}), DigestBook(JsonStore())
    assert [r.digests for r in apply_all(plain, MIX)] == [r.digests for r in apply_all(stored, MIX)]
    assert stored.apply(MIX[3]).status == "duplicate"


def test_scripted_calls_end_to_end():
    calls = [responder_call("C1"), responder_call("C2", seed=1, on_scene=900, category="police_backup_requested",
                                                  backup=True), phone_call("P1", seed=2, taker="CT-2")]
    book = DigestBook({})
    for c in calls:
        book.apply(build_feedback(c.timeline, c.ended_by))
    day = latest(book)["day"]
    assert (day["calls"], day["diverted_calls"], day["resolved_without_police"], day["police_backup"]) == (3, 3, 2, 1)
    assert day["share_resolved_without_police"] == 0.6667 and day["police_backup_rate"] == 0.3333
    assert classify(build_feedback(calls[1].timeline, calls[1].ended_by)).police_backup


class RecordingStore(dict):
    """A dict that counts the JSON bytes written to it, as the table's changelog would carry them."""

    written = 0

    def __setitem__(self, key, value):
        self.written += len(key) + len(json.dumps(value))
        super().__setitem__(key, value)


def test_what_a_feedback_writes_does_not_grow_with_the_feedback_counted_before_it_in_its_hour():
    store = RecordingStore()
    book = DigestBook(store)
    cost = []
    for n in range(1, 401):
        before = store.written
        assert book.apply(fb(n, "community_responder", "resolved_on_scene", on_scene=600)).status == "counted"
        cost.append(store.written - before)
    assert cost[-1] <= 1.1 * cost[9], (cost[9], cost[-1])
    assert book.apply(fb(200, "community_responder", "resolved_on_scene", on_scene=600)).status == "duplicate"
    assert latest(book)["day"]["calls"] == 400


def test_seen_ids_kept_as_an_hourly_list_by_earlier_versions_still_count():
    store: dict = {}
    book = DigestBook(store)
    assert book.apply(MIX[0]).status == "counted"
    # Rewrite the counted id the way earlier versions stored it: one list per PSAP and local hour.
    (seen_key,) = [k for k in store if "|seen|" in k]
    del store[seen_key]
    hour_key, feedback_id = seen_key.rsplit("|", 1)
    store[hour_key] = [feedback_id]
    assert book.apply(MIX[0]).status == "duplicate"
    assert book.apply(MIX[1]).status == "counted"
    assert book.psaps() == ["PSAP-1"] and latest(book)["day"]["calls"] == 2


class CrashingStore(dict):
    """A store whose writes after the first ``survive`` are lost, as a worker killed before they reached
    the changelog loses them (writes of one partition reach it in order)."""

    def __init__(self, state: dict, survive: int) -> None:
        super().__init__(json.loads(json.dumps(state)))
        self.left = survive

    def __setitem__(self, key, value) -> None:
        self._write()
        super().__setitem__(key, json.loads(json.dumps(value)))

    def __delitem__(self, key) -> None:
        self._write()
        super().__delitem__(key)

    def _write(self) -> None:
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1


@pytest.mark.parametrize("feedback", [MIX[1], fb(9, "police", "resolved_on_scene", taker=None)],
                         ids=["with a call taker", "without"])
def test_a_worker_killed_between_any_two_writes_of_a_feedback_counts_it_exactly_once(feedback):
    clean = DigestBook({})
    apply_all(clean, MIX[:1])
    before = json.loads(json.dumps(clean.store))
    assert clean.apply(feedback).status == "counted"
    writes = 0
    while True:
        store = CrashingStore(before, writes)
        try:
            DigestBook(store).apply(feedback)
        except KeyboardInterrupt:
            pass
        else:
            break  # every write survived: the crash points are exhausted
        recovered = DigestBook(dict(store))
        redelivered = recovered.apply(feedback)  # the input was not committed: it is handled again
        assert redelivered.status == "counted", f"killed after {writes} write(s): the outcome went missing"
        assert recovered.psap_view("PSAP-1") == clean.psap_view("PSAP-1"), f"killed after {writes} write(s)"
        assert recovered.apply(feedback).status == "duplicate"
        writes += 1
    assert writes >= 4
