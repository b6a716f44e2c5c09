"""Properties of the lifecycle over arbitrary reply sequences."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatchbus.lifecycle.transitions import Context, apply
from dispatchbus.policy.availability import AvailabilityBook
from tests.support.policies import reference as load_reference_policy

from ..support.validated import assert_as_validated
from .scenario import CALL_TYPES, KINDS, MODELS, Script, next_event

STEPS = st.lists(st.sampled_from(KINDS), max_size=12)


def step(tl, kind, s, ctx, t, last_event):
    event = next_event(tl, kind, s, t, last_event)
    if event is None:
        return (tl, None), last_event
    return apply(tl, event, ctx), event


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(MODELS), call_type=st.sampled_from(CALL_TYPES), steps=STEPS,
       hour=st.integers(min_value=0, max_value=23))
def test_a_call_always_has_a_holder_and_duplicates_change_nothing(model, call_type, steps, hour):
    s = Script(start=Script().start.replace(hour=hour))
    ctx = Context(load_reference_policy(model), AvailabilityBook())
    tl, fx = apply(None, s.call(call_type), ctx)
    assert len(fx.decisions) == 1
    assert tl.call.narrative is None
    for built in (tl.call, *fx.decisions, *fx.handoffs):  # built without validation, as validation builds them
        assert_as_validated(built)
    last_event = None
    ids = [d.event_id for d in tl.decisions]
    for i, kind in enumerate(steps):
        before = tl.to_json()
        (tl, fx), event = step(tl, kind, s, ctx, 10 * (i + 1), last_event)
        if fx is not None and fx.duplicate:
            assert tl.to_json() == before, "a redelivered event changes nothing"
            assert fx.resend or (not fx.decisions and not fx.handoffs)
        last_event = event or last_event
        for built in (fx.decisions + fx.handoffs) if fx is not None else ():
            assert_as_validated(built)
        assert tl.holder is not None, "no call is ever left without a holder"
        if tl.status == "waiting":
            assert tl.pending is not None and tl.pending.agency == tl.holder
        if fx is not None and not fx.resend:
            ids += [d.event_id for d in fx.decisions]
        elif fx is not None:  # a resend offers exactly what was emitted before, with the same ids
            assert {d.event_id for d in fx.decisions} <= set(ids)
        # the chain: each decision supersedes the previous one, in sequence
        for prev, cur in zip(tl.decisions, tl.decisions[1:]):
            assert cur.sequence == prev.sequence + 1 and cur.supersedes == prev.event_id
    assert len(ids) == len(set(ids)), "every decision is emitted once"
