"""Per-PSAP topics and ACLs, feedback settings, metric labels and the feedback alert rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatchbus import catalogue
from dispatchbus.ops import deployment
from dispatchbus.metrics import REGISTRY
from dispatchbus.settings import FeedbackSettings, Settings, TopicSettings

ROOT = Path(__file__).resolve().parents[2]


def test_psap_ids_come_from_one_comma_separated_setting(monkeypatch):
    monkeypatch.setenv("DISPATCHBUS_FEEDBACK__PSAPS", " PSAP-1, PSAP_2 ,PSAP-1,")
    monkeypatch.setenv("DISPATCHBUS_FEEDBACK__TIMEZONE", "America/Chicago")
    s = Settings()
    assert s.feedback.psap_ids == ("PSAP-1", "PSAP_2") and s.feedback.timezone == "America/Chicago"
    assert s.to_env()["DISPATCHBUS_FEEDBACK__PSAPS"] == "PSAP-1,PSAP_2"
    assert FeedbackSettings().psap_ids == ()


@pytest.mark.parametrize("psaps", ["PSAP.1", "PSAP 1", "a/b", "x" * 65])
def test_psap_ids_that_cannot_name_a_topic_are_refused(psaps):
    with pytest.raises(ValidationError, match="PSAP ids"):
        FeedbackSettings(psaps=psaps)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ValidationError, match="time zone"):
        FeedbackSettings(timezone="Mars/Olympus")


def test_listed_psaps_get_their_own_topics():
    settings = Settings(feedback=FeedbackSettings(psaps="PSAP-1,PSAP-10"), topics=TopicSettings(prefix="p."))
    extra = catalogue.topics_for(settings)[len(catalogue.CATALOGUE):]
    assert [s.full_name(settings.topics) for s in extra] == [
        "p.feedback.psap.PSAP-1.outcomes", "p.feedback.psap.PSAP-1.digests",
        "p.feedback.psap.PSAP-10.outcomes", "p.feedback.psap.PSAP-10.digests",
    ]
    for spec in extra:
        assert spec.consumers == (catalogue.Agency.PSAP,) and spec.producers == (catalogue.Agency.BUS,)
        assert all(spec.key in t.model_fields for t in spec.value_types)
    assert extra[0].partitions == catalogue.CALL_PARTITIONS, "keyed by call_id like every call topic"
    assert catalogue.lookup("p.feedback.psap.PSAP-10.digests", settings.topics) == extra[3]
    assert catalogue.lookup("feedback.psap.PSAP-1.outcomes") == extra[0]
    with pytest.raises(KeyError):
        catalogue.lookup("feedback.psap.PSAP.1.outcomes")


def test_the_regional_topics_stay_with_the_cad_and_the_bus():
    assert set(catalogue.FEEDBACK.consumers) == {catalogue.Agency.CAD, catalogue.Agency.BUS}
    assert catalogue.FEEDBACK_DIGESTS.consumers == (catalogue.Agency.CAD,)
    for spec in catalogue.CATALOGUE:
        assert catalogue.Agency.PSAP not in spec.consumers, "a PSAP reads only its own topics"


def _acl_rows(text: str) -> list[tuple[str, str, bool, bool]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| `User:"):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            rows.append((cells[0], cells[1], cells[2] == "yes", cells[3] == "yes"))
    return rows


def test_each_psap_principal_reads_its_own_topics_only():
    settings = deployment.compose_settings()
    settings.feedback.psaps = "PSAP-1,PSAP-10"
    text = deployment.render_acls_md(settings)
    rows = _acl_rows(text)
    for psap, other in (("PSAP-1", "PSAP-10"), ("PSAP-10", "PSAP-1")):
        readable = {t for p, t, read, _ in rows if p == f"User:psap-{psap}" and read}
        assert readable == {f"dispatchbus.feedback.psap.{psap}.outcomes", f"dispatchbus.feedback.psap.{psap}.digests"}
        assert not any(w for p, _, _, w in rows if p == f"User:psap-{psap}")
    commands = [line for line in text.splitlines() if line.startswith("kafka-acls.sh") and "User:psap-PSAP-1\"" in line]
    assert commands and all("PSAP-10" not in line for line in commands)
    prefixed = [line for line in commands if "--resource-pattern-type prefixed" in line]
    assert prefixed and all("--group \"psap.PSAP-1.\"" in line for line in prefixed), "groups only, dot-delimited"


def test_the_committed_docs_describe_the_per_psap_topics():
    topics = (ROOT / deployment.TOPICS_MD).read_text()
    acls = (ROOT / deployment.ACLS_MD).read_text()
    assert "`dispatchbus.feedback.psap.<psap_id>.outcomes`" in topics
    assert "| `User:psap-<psap_id>` | `dispatchbus.feedback.psap.<psap_id>.digests` | yes |  |" in acls


def test_feedback_metrics_are_labelled_by_psap_never_by_call_taker():
    names = []
    for collector in list(REGISTRY._collector_to_names):
        name = getattr(collector, "_name", "")
        if name.startswith("dispatchbus_feedback_"):
            names.append(name)
            assert set(collector._labelnames) <= {"psap", "first_target", "category", "reason", "window"}, name
    assert len(names) >= 5


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not on PATH")
def test_feedback_rules_with_promtool():
    result = subprocess.run(["promtool", "test", "rules", str(Path(__file__).parent / "prometheus_feedback_rules_test.yml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
