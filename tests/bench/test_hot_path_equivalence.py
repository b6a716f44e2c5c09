"""The worker's hot-path shortcuts change nothing.

The calls table holds Timeline objects and writes their JSON to its
changelog; recovery reads that JSON back. That is only sound if apply()
never changes the timeline it is given (the stored object), and if a timeline
recovered from its changelog bytes behaves exactly like the one in memory.
The deadline timer's index must agree with a scan of every timeline.
"""

from datetime import timedelta

from faust.serializers import codecs
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatchbus.lifecycle.timers import overdue
from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from tests.support.policies import reference as load_reference_policy
from dispatchbus.runtime.tables import TIMELINE_CODEC

from ..lifecycle.scenario import CALL_TYPES, KINDS, MODELS, Script, next_event


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(MODELS), call_type=st.sampled_from(CALL_TYPES),
       steps=st.lists(st.sampled_from(KINDS), max_size=12), hour=st.integers(min_value=0, max_value=23))
def test_a_stored_timeline_behaves_like_one_recovered_from_the_changelog(model, call_type, steps, hour):
    codec = codecs.get_codec(TIMELINE_CODEC)
    s = Script(start=Script().start.replace(hour=hour))
    ctx = Context(load_reference_policy(model), AvailabilityBook())
    kept, _ = apply(None, s.call(call_type), ctx)
    last = None
    for i, kind in enumerate(steps):
        changelog = codec.dumps(kept)
        recovered = codec.loads(changelog)
        assert recovered == kept
        event = next_event(kept, kind, s, 10 * (i + 1), last)
        if event is None:
            continue
        from_memory, fx_memory = apply(kept, event, ctx)
        from_changelog, fx_changelog = apply(recovered, event, ctx)
        assert from_memory == from_changelog and fx_memory == fx_changelog
        assert codec.dumps(kept) == changelog, "apply() leaves the timeline it was given alone"
        kept, last = from_memory, event


@settings(max_examples=100, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    calls=st.lists(st.tuples(st.sampled_from(CALL_TYPES), st.integers(0, 23), st.integers(0, 600),
                             st.sampled_from(["none", "accept", "decline", "clear"])), max_size=25),
    ticks=st.lists(st.integers(min_value=-60, max_value=900), min_size=1, max_size=4),
)
def test_the_pending_index_agrees_with_a_scan_of_every_timeline(model, calls, ticks):
    """The timer's index against brute force: counts, oldest waits, and each overdue handoff exactly once."""
    from dispatchbus.catalogue import HANDOFF_TOPICS
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


def test_unit_statuses_read_from_the_worker_s_units_table_are_the_book_s(tmp_path):
    """The lifecycle reads unit statuses from the global table's store; they answer as an AvailabilityBook."""
    from dispatchbus.agents.lifecycle import TableUnits
    from dispatchbus.app import create_app
    from dispatchbus.policy.availability import UnitHistory
    from dispatchbus.settings import Settings

    settings_ = Settings()
    settings_.worker.data_dir = tmp_path
    table = create_app(settings_).units_table  # one worker's table for every example, emptied before each

    @settings(max_examples=50, deadline=None)
    @given(statuses=st.lists(st.tuples(st.sampled_from(["CRT-1", "CRT-2", "MRU-1"]),
                                       st.sampled_from(["available", "busy", "out_of_service"]),
                                       st.integers(0, 10_000)), max_size=12),
           asked=st.lists(st.tuples(st.sampled_from(["CRT-1", "CRT-2", "MRU-1", "NONE-9"]),
                                    st.integers(-10, 10_010)), min_size=1, max_size=8))
    def same_answers(statuses, asked):
        table.data.clear()
        book, histories = AvailabilityBook(), {}
        lookup = TableUnits(table)
        for unit, status, ms in statuses:
            book.record_status(unit, ms, status)
            history = histories.setdefault(unit, UnitHistory())
            history.record(ms, status)
            table.data[unit] = history.to_json()  # a new value, as the unit agent writes (and recovery loads)
            for other, at in asked:
                assert lookup.status_at(other, at) == book.status_at(other, at)

    same_answers()
