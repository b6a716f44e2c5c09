"""The offline benchmark's run of `dispatchbus route`: figures from the child, not from this process."""

from __future__ import annotations

from bench.offline import generate, route_once


def test_peak_rss_is_the_routes_own_not_the_parents(tmp_path):
    path = tmp_path / "calls.jsonl"
    generate(path, 2_000)
    ballast = bytearray(400 << 20)
    for page in range(0, len(ballast), 4096):  # touched, so resident in this process
        ballast[page] = 1
    run = route_once(path)
    assert run.calls == 2_000 and run.statuses > 0 and run.seconds > 0
    # A forked child keeps the parent's peak through exec in ru_maxrss; the route itself needs far less.
    assert 10 < run.peak_rss_mib < 300
    del ballast
