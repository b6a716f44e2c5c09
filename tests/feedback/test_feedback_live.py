"""Live outcome feedback on the embedded broker: scripted calls with known outcomes -> exact feedback and digests."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from dispatchbus import catalogue
from dispatchbus.kafka.admin import create_topics
from dispatchbus.kafka.clients import EventProducer, TopicReader
from dispatchbus.contract import events as ev
from dispatchbus.feedback import sketch
from dispatchbus.feedback.builder import feedback_id
from dispatchbus.feedback.windows import window_of
from tests.support.samples import screened

from ..support.policies import policy_file
from ..support.topics import TopicWatcher, metric_value
from ..support.waiting import wait_for

pytestmark = pytest.mark.broker

NARRATIVE = "SYNTHETIC-NARRATIVE-MARKER caller gave her name as Jane Roe"
NOTES = "CLINICAL-NOTES-MARKER disclosed a diagnosis"
ZONE = "ZONE-MARKER"
UNIT = "UNIT-MARKER-7"
LAT, LON = 40.777123, -73.954321
MARKERS = (b"SYNTHETIC-NARRATIVE", b"Jane Roe", b"CLINICAL-NOTES", b"diagnosis", ZONE.encode(), UNIT.encode(),
           struct.pack("<d", LAT), struct.pack("<d", LON))


def listed(settings, psaps="PSAP-1,PSAP-2"):
    """List the PSAPs that get their own feedback topics, and create those topics."""
    settings.feedback.psaps = psaps
    create_topics(settings)
    return settings


class Calls:
    """Scripted calls received at ``t0``: every event at a known offset in seconds."""

    def __init__(self, settings, t0):
        self.settings, self.t0 = settings, t0
        self.producer = EventProducer(settings)

    def at(self, s):
        return self.t0 + timedelta(seconds=s)

    def send(self, spec, *events):
        for e in events:
            self.producer.send(spec, e)
        self.producer.flush()
        return events[-1] if events else None

    def call(self, call_id, call_type, psap="PSAP-1", taker=None, **screening):
        return self.send(catalogue.CAD_CALLS, ev.CallReceived(
            event_id=uuid.uuid4(), call_id=call_id, psap_id=psap, call_taker_id=taker, received_at=self.t0,
            call_type=call_type, screening=screened(**screening),
            location=ev.Location(lat=LAT, lon=LON, zone=ZONE), priority=2, narrative=NARRATIVE))

    def reply(self, handoff, s, result=None):
        common = dict(event_id=uuid.uuid4(), call_id=handoff.call_id, handoff_id=handoff.event_id,
                      agency=handoff.agency, causation_id=handoff.event_id)
        if result is None:
            return self.send(catalogue.HANDOFF_REPLIES, ev.HandoffAccepted(accepted_at=self.at(s), **common))
        return self.send(catalogue.HANDOFF_REPLIES, ev.ConsultResult(completed_at=self.at(s), result=result, **common))

    def unit_path(self, call_id, agency, team, on_scene, cleared, category, backup=False, unit=UNIT):
        """Dispatch at +60 s, on scene and cleared at the given offsets; returns the UnitCleared."""
        return self.send(
            catalogue.RESPONDER_ACTIVITY,
            ev.DispatchAssigned(event_id=uuid.uuid4(), call_id=call_id, unit_id=unit, team=team,
                                agency_type=agency, assigned_at=self.at(60)),
            ev.UnitOnScene(event_id=uuid.uuid4(), call_id=call_id, unit_id=unit, occurred_at=self.at(on_scene)),
            ev.UnitCleared(event_id=uuid.uuid4(), call_id=call_id, unit_id=unit, cleared_at=self.at(cleared),
                           outcome=ev.Outcome(category=category, police_backup_requested=backup, notes=NOTES)),
        )


def worker_json(worker, path):
    url = f"http://127.0.0.1:{worker.settings.worker.web_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def cli(settings, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHBUS_")}
    env.update(settings.to_env())
    return subprocess.run([sys.executable, "-m", "dispatchbus.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def raw_records(settings, name):
    with TopicReader(settings, name) as reader:
        return list(reader.iter(idle_timeout=1.0))


def latest_digests(events):
    out = {}
    for d in events:
        if d.digest_id not in out or d.revision > out[d.digest_id].revision:
            out[d.digest_id] = d
    return out


def hop(kind, agency, t, team=None, code=None):
    return ev.RouteHop(agency=agency, team=team, at=t, kind=kind, code=code)


def test_outcomes_reach_their_psap_and_the_digests_add_up(bus_settings, start_worker, tmp_path):
    listed(bus_settings)
    bus_settings.worker.policy_file = policy_file(tmp_path, crt_units=(UNIT,))
    worker = start_worker()
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=60)
    calls = Calls(bus_settings, t0)
    own1 = catalogue.PSAP_FEEDBACK.spec("PSAP-1")
    own2 = catalogue.PSAP_FEEDBACK.spec("PSAP-2")

    with TopicWatcher(bus_settings, catalogue.HANDOFF_RESPONDERS) as responders, \
            TopicWatcher(bus_settings, catalogue.HANDOFF_CAD) as cad, \
            TopicWatcher(bus_settings, catalogue.FEEDBACK) as feedback:
        calls.call("FA", "welfare_check", taker="CT-1")
        calls.call("FB", "mental_health", taker="CT-2")
        calls.call("FC", "assault", psap="PSAP-2", taker="CT-9", weapon_present=True)
        calls.call("FE", "welfare_check", psap="PSAP-9")
        [ha] = responders.wait(lambda h: h.call_id == "FA")
        [hb] = responders.wait(lambda h: h.call_id == "FB")
        [hc] = cad.wait(lambda h: h.call_id == "FC")
        assert (ha.team, hb.team, hc.agency) == ("CRT", "CRT", "police")
        calls.reply(ha, 30)
        calls.reply(hb, 20)
        # replies and unit activity travel on different topics: dispatch once the acceptances are in
        wait_for(lambda: all(worker_json(worker, f"/calls/{c}")["status"] == "accepted" for c in ("FA", "FB")),
                 what="both handoffs accepted")
        # FA: resolved on scene, cleared 12 hours after it was received (a late outcome).
        cleared_a = calls.unit_path("FA", "community_responder", "CRT", 600, 12 * 3600, "resolved_on_scene")
        calls.unit_path("FB", "community_responder", "CRT", 900, 2000, "police_backup_requested", backup=True)
        # the backup request sent police; the CAD closes the call once they are done
        cad.wait(lambda h: h.call_id == "FB", what="police sent for FB's backup request")
        calls.send(catalogue.CAD_CALLS, ev.CallClosed(event_id=uuid.uuid4(), call_id="FB", closed_at=calls.at(2600),
                                                      disposition="police_backup_requested"))
        calls.unit_path("FC", "police", None, 300, 1200, "resolved_on_scene", unit="P-31")
        calls.send(catalogue.CAD_CALLS, ev.CallClosed(event_id=uuid.uuid4(), call_id="FE", closed_at=calls.at(100),
                                                      disposition="no_contact"))
        sent = {f.call_id: f for f in feedback.wait(count=4, what="feedback of every call")}

    assert sent["FA"] == ev.OutcomeFeedback(
        event_id=feedback_id(cleared_a.event_id), correlation_id="FA", causation_id=cleared_a.event_id,
        call_id="FA", psap_id="PSAP-1", call_taker_id="CT-1", call_type="welfare_check", received_at=t0,
        model="911-led", first_target="community_responder", diverted=True,
        route=[
            hop("decided", "community_responder", t0, "CRT", "team.assigned"),
            hop("accepted", "community_responder", calls.at(30), "CRT"),
            hop("dispatched", "community_responder", calls.at(60), "CRT"),
            hop("on_scene", "community_responder", calls.at(600), "CRT"),
            hop("cleared", "community_responder", calls.at(12 * 3600), "CRT", "resolved_on_scene"),
        ],
        outcome_category="resolved_on_scene", police_needed=False, closed_at=calls.at(12 * 3600),
        seconds_to_on_scene=600.0, seconds_to_close=12 * 3600.0,
    )
    assert (sent["FB"].outcome_category, sent["FB"].police_needed, sent["FB"].seconds_to_on_scene) == (
        "police_backup_requested", True, 900.0)
    assert (sent["FC"].first_target, sent["FC"].diverted, sent["FC"].route[0].code) == ("police", False, "gate.weapon")
    assert (sent["FE"].outcome_category, sent["FE"].seconds_to_close, sent["FE"].psap_id) == ("no_contact", 100.0, "PSAP-9")

    # Each listed PSAP gets its own calls, and only those; an unlisted one only the regional topic.
    with TopicWatcher(bus_settings, own1) as mine, TopicWatcher(bus_settings, own2) as theirs:
        assert sorted(f.call_id for f in mine.wait(count=2)) == ["FA", "FB"]
        assert [f.call_id for f in theirs.wait()] == ["FC"]
        assert {f.event_id for f in mine.events} == {sent["FA"].event_id, sent["FB"].event_id}

    day = window_of("day", t0, timezone.utc)
    digest_topic = catalogue.PSAP_DIGESTS.spec("PSAP-1")
    want = {f"PSAP-1/day/{day.label}": 2, f"PSAP-1/day/{day.label}/taker/CT-1": 1,
            f"PSAP-2/day/{day.label}": 1, f"PSAP-9/day/{day.label}": 1}
    with TopicWatcher(bus_settings, catalogue.FEEDBACK_DIGESTS) as regional:
        wait_for(lambda: all(latest_digests(regional.drain()).get(k) and latest_digests(regional.events)[k].revision == n
                             for k, n in want.items()), what="digests of every window")
        digests = latest_digests(regional.events)
    psap1 = digests[f"PSAP-1/day/{day.label}"]
    on_scene = sketch.of([600, 900])
    assert (psap1.window_start, psap1.window_end, psap1.timezone) == (day.start, day.end, "UTC")
    assert (psap1.calls, psap1.diverted_calls, psap1.resolved_without_police, psap1.police_backup) == (2, 2, 1, 1)
    assert (psap1.share_resolved_without_police, psap1.police_backup_rate) == (0.5, 0.5)
    assert (psap1.on_scene_calls, psap1.median_seconds_to_on_scene, psap1.p90_seconds_to_on_scene) == (
        2, sketch.quantile(on_scene, 0.5), sketch.quantile(on_scene, 0.9))
    assert psap1.median_seconds_to_on_scene == pytest.approx(600, rel=0.02)
    assert [(o.category, o.calls) for o in psap1.outcomes] == [("resolved_on_scene", 1), ("police_backup_requested", 1)]
    assert psap1.as_of == calls.at(12 * 3600)
    psap2 = digests[f"PSAP-2/day/{day.label}"]
    assert (psap2.calls, psap2.diverted_calls, psap2.share_resolved_without_police, psap2.median_seconds_to_on_scene) == (
        1, 0, None, 300.0)
    assert [(r.first_target, r.calls, r.resolved_without_police) for r in psap2.routes] == [("police", 1, 0)]
    ct1 = digests[f"PSAP-1/day/{day.label}/taker/CT-1"]
    assert (ct1.calls, ct1.resolved_without_police, ct1.median_seconds_to_on_scene) == (1, 1, 600.0)

    with TopicWatcher(bus_settings, digest_topic) as own_digests:
        wait_for(lambda: latest_digests(own_digests.drain()).get(psap1.digest_id, psap1).revision == 2
                 and psap1.digest_id in latest_digests(own_digests.events), what="PSAP-1's own digests")
        assert {d.psap_id for d in own_digests.events} == {"PSAP-1"}
        assert latest_digests(own_digests.events)[psap1.digest_id] == psap1

    # The views and the command line read the same figures.
    view = worker_json(worker, "/feedback/PSAP-1")
    assert view["day"]["calls"] == 2 and view["day"]["share_resolved_without_police"] == 0.5
    assert view["date"] == day.label and view["week"]["calls"] == 2
    assert [t["call_taker_id"] for t in view["call_takers"]] == ["CT-1", "CT-2"]
    everything = worker_json(worker, "/feedback")["digests"]
    assert {(d["psap_id"], d["window"]) for d in everything} == {
        (p, w) for p in ("PSAP-1", "PSAP-2", "PSAP-9") for w in ("day", "week")}
    assert all("call_taker_id" not in d or d["call_taker_id"] is None for d in everything)
    with pytest.raises(urllib.error.HTTPError) as missing:
        worker_json(worker, "/feedback/PSAP-404")
    assert missing.value.code == 404
    shown = cli(bus_settings, "feedback", "show", "PSAP-1")
    assert shown.returncode == 0, shown.stderr
    assert "PSAP-1" in shown.stdout and "50% (1)" in shown.stdout and "CT-2" in shown.stdout

    text = worker.metrics_text()
    assert metric_value(text, "dispatchbus_feedback_outcomes_total", psap="PSAP-1") == 2
    assert metric_value(text, "dispatchbus_feedback_outcomes_total", psap="unlisted", category="no_contact") == 1
    assert metric_value(text, "dispatchbus_feedback_sent_total", psap="unlisted") == 1
    assert metric_value(text, "dispatchbus_feedback_resolved_without_police_ratio", psap="PSAP-1", window="day") == 0.5
    assert "CT-1" not in text, "call takers never appear in metric labels"

    # A redelivered feedback changes nothing, before and after a restart (the seen ids are in the table).
    copy = next(r for r in raw_records(bus_settings, catalogue.FEEDBACK) if r.event.call_id == "FA")
    producer = EventProducer(bus_settings)
    producer.send_raw(copy.topic, copy.key, copy.value)
    producer.flush()
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_feedback_dropped_total",
                                  psap="PSAP-1", reason="duplicate") == 1, what="the duplicate dropped")
    assert worker_json(worker, "/feedback/PSAP-1") == view
    worker.stop()
    again = start_worker()
    wait_for(lambda: worker_json(again, "/feedback/PSAP-1") == view, what="digests recovered after restart")
    producer.send_raw(copy.topic, copy.key, copy.value)
    producer.flush()
    wait_for(lambda: metric_value(again.metrics_text(), "dispatchbus_feedback_dropped_total",
                                  psap="PSAP-1", reason="duplicate") == 1, what="the duplicate dropped after restart")
    assert worker_json(again, "/feedback/PSAP-1") == view

    # Nothing sensitive on any feedback topic, in the raw bytes.
    for spec in (catalogue.FEEDBACK, catalogue.FEEDBACK_DIGESTS, *catalogue.psap_topics(["PSAP-1", "PSAP-2"])):
        records = raw_records(bus_settings, spec)
        assert records, spec.name
        for r in records:
            for marker in MARKERS:
                assert marker not in r.value, (spec.name, marker)


def test_a_clinician_resolved_by_phone_under_the_embedded_professional_model(bus_settings, start_worker):
    listed(bus_settings, "PSAP-1")
    bus_settings.worker.policy_model = "embedded-professional"
    worker = start_worker()
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    calls = Calls(bus_settings, t0)
    with TopicWatcher(bus_settings, catalogue.HANDOFF_EMBEDDED) as console:
        calls.call("FP", "suicidal_ideation", taker="CT-4")
        [handoff] = console.wait(lambda h: h.call_id == "FP")
    calls.reply(handoff, 10)
    wait_for(lambda: worker_json(worker, "/calls/FP")["status"] == "accepted", what="the consult accepted")
    result = calls.reply(handoff, 250, result="resolved_by_phone")
    with TopicWatcher(bus_settings, catalogue.PSAP_FEEDBACK.spec("PSAP-1")) as mine:
        [fb] = mine.wait(lambda f: f.call_id == "FP")
    assert fb == ev.OutcomeFeedback(
        event_id=feedback_id(result.event_id), correlation_id="FP", causation_id=result.event_id,
        call_id="FP", psap_id="PSAP-1", call_taker_id="CT-4", call_type="suicidal_ideation", received_at=t0,
        model="embedded-professional", first_target="embedded_professional", diverted=True,
        route=[
            hop("decided", "embedded_professional", t0, code="clinician.consult"),
            hop("accepted", "embedded_professional", calls.at(10)),
            hop("consult_result", "embedded_professional", calls.at(250), code="resolved_by_phone"),
        ],
        outcome_category="resolved_by_phone", police_needed=False, closed_at=calls.at(250),
        seconds_to_on_scene=None, seconds_to_close=250.0,
    )
    day = window_of("day", t0, timezone.utc)
    with TopicWatcher(bus_settings, catalogue.PSAP_DIGESTS.spec("PSAP-1")) as digests:
        [d] = digests.wait(lambda d: d.digest_id == f"PSAP-1/day/{day.label}")
    assert (d.calls, d.diverted_calls, d.resolved_without_police, d.share_resolved_without_police) == (1, 1, 1, 1.0)
    assert (d.police_backup, d.police_backup_rate, d.on_scene_calls, d.median_seconds_to_on_scene) == (0, 0.0, 0, None)
    assert [(r.first_target, r.calls, [(o.category, o.calls) for o in r.outcomes]) for r in d.routes] == [
        ("embedded_professional", 1, [("resolved_by_phone", 1)])]
    wait_for(lambda: metric_value(worker.metrics_text(), "dispatchbus_feedback_outcomes_total", psap="PSAP-1",
                                  first_target="embedded_professional", category="resolved_by_phone") == 1,
             what="the outcome counted")
