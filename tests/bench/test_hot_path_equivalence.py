"""The worker's hot-path shortcuts change nothing.

The lifecycle agent keeps each call's parsed Timeline next to the table's JSON
value instead of parsing that value again for every event and timer tick; that
is only sound if a timeline survives the JSON round trip unchanged and applying
the next event to either copy gives the same result.
"""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatchbus.lifecycle.timeline import Timeline
from dispatchbus.lifecycle.timers import overdue
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from dispatchbus.policy.loader import load_reference_policy

from ..lifecycle.scenario import Script

MODELS = ["911-led", "embedded-professional", "external-hotline"]
CALL_TYPES = ["mental_health", "noise_complaint", "substance_use", "welfare_check", "theft", "fire", "trespass"]
KINDS = ["accept", "decline", "timeout", "phone", "team", "police", "dispatch", "scene", "clear", "duplicate"]


def next_event(tl, kind, s, t, last):
    pending = tl.pending
    if kind == "duplicate":
        return last
    if kind in ("accept", "decline", "phone", "team", "police") and pending is not None:
        handoff = type("H", (), {"event_id": pending.handoff_id, "agency": pending.agency})()
        return {
            "accept": lambda: s.accepted(handoff, t),
            "decline": lambda: s.declined(handoff, t, "no_capacity"),
            "phone": lambda: s.consult(handoff, t, "resolved_by_phone"),
            "team": lambda: s.consult(handoff, t, "dispatch_community_responder"),
            "police": lambda: s.consult(handoff, t, "dispatch_police"),
        }[kind]()
    if kind == "timeout" and pending is not None and pending.deadline_at is not None:
        return overdue([tl], pending.deadline_at + timedelta(seconds=1))[0]
    if kind == "dispatch":
        return s.dispatched(t)
    if kind == "scene":
        return s.on_scene(t)
    if kind == "clear":
        return s.cleared(t)
    return None


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(MODELS), call_type=st.sampled_from(CALL_TYPES),
       steps=st.lists(st.sampled_from(KINDS), max_size=12), hour=st.integers(min_value=0, max_value=23))
def test_a_cached_timeline_behaves_like_one_parsed_from_the_table(model, call_type, steps, hour):
    s = Script(start=Script().start.replace(hour=hour))
    ctx = Context(load_reference_policy(model), AvailabilityBook())
    kept, _ = apply(None, s.call(call_type), ctx)
    last = None
    for i, kind in enumerate(steps):
        stored = kept.model_dump(mode="json")
        parsed = Timeline.model_validate(stored)
        assert parsed == kept
        event = next_event(kept, kind, s, 10 * (i + 1), last)
        if event is None:
            continue
        from_cache, fx_cache = apply(kept, event, ctx)
        from_table, fx_table = apply(parsed, event, ctx)
        assert from_cache == from_table and fx_cache == fx_table
        assert kept.model_dump(mode="json") == stored, "apply() leaves the timeline it was given alone"
        kept, last = from_cache, event


@settings(max_examples=100, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    calls=st.lists(st.tuples(st.sampled_from(CALL_TYPES), st.integers(0, 23), st.integers(0, 600),
                             st.sampled_from(["none", "accept", "decline", "clear"])), max_size=25),
    ticks=st.lists(st.integers(min_value=-60, max_value=900), min_size=1, max_size=4),
)
def test_the_pending_index_agrees_with_a_scan_of_every_timeline(model, calls, ticks):
    """The timer's index against brute force: counts, oldest waits, and each overdue handoff exactly once."""
    from dispatchbus.agents.lifecycle import HANDOFF_TOPICS
    from dispatchbus.lifecycle.timers import PendingIndex

    ctx = Context(load_reference_policy(model), AvailabilityBook())
    index = PendingIndex(HANDOFF_TOPICS)
    latest = {}
    for n, (call_type, hour, offset, then) in enumerate(calls):
        s = Script(call_id=f"C{n}", start=Script().start.replace(hour=hour) + timedelta(seconds=offset), seed=n + 1)
        tl, _ = apply(None, s.call(call_type), ctx)
        index.update(tl)  # every stored version passes through the index, as in the agent
        event = next_event(tl, then if then != "none" else "skip", s, 5, None)
        if event is not None:
            tl, _ = apply(tl, event, ctx)
            index.update(tl)
        latest[tl.call_id] = tl
    timelines = list(latest.values())
    reported: list = []
    for after in sorted(ticks):
        now = Script().start + timedelta(seconds=after)
        expected = {a: [0, 0.0] for a in HANDOFF_TOPICS}
        for tl in timelines:
            if tl.pending is not None:
                entry = expected.setdefault(tl.pending.agency, [0, 0.0])
                entry[0] += 1
                entry[1] = max(entry[1], tl.waited_seconds(now))
        waiting = index.waiting(now)
        assert {a: (w.count, w.oldest_seconds) for a, w in waiting.items()} == {a: tuple(v) for a, v in expected.items()}
        assert list(waiting)[: len(HANDOFF_TOPICS)] == list(HANDOFF_TOPICS)
        reported += index.take_overdue(now)
        due_so_far = overdue(timelines, now)
        assert sorted(str(t.event_id) for t in reported) == sorted(str(t.event_id) for t in due_so_far)
    rebuilt = PendingIndex(HANDOFF_TOPICS)
    rebuilt.rebuild(timelines)
    assert len(rebuilt) == len(index) == sum(tl.pending is not None for tl in timelines)
