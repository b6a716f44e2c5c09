"""The simulator config file: packaged figures, distributions, and errors naming file, line and field."""

from __future__ import annotations

import random
import statistics
from datetime import time
from pathlib import Path

import pytest

from dispatchbus.connectors.simulators.config import (
    DEFAULT_CONFIG,
    DEMO_CONFIG,
    ConfigError,
    Fixed,
    LogNormal,
    Uniform,
    load_config,
)

BEHAVIOURAL = ("mental_health", "suicidal_ideation", "substance_use", "intoxicated_person", "welfare_check")
MEDIATION = ("neighbor_dispute", "family_dispute", "noise_complaint", "youth_truancy", "disturbance")


def test_default_config_carries_the_public_figures():
    config = load_config()
    assert config == load_config(DEFAULT_CONFIG)
    base = config.cad.call_mix.base
    total = sum(base.values())
    assert sum(base[t] for t in BEHAVIOURAL) / total == pytest.approx(0.20, abs=0.005)
    per_week = sum(base[t] for t in MEDIATION) / total * config.cad.calls_per_day * 7
    assert per_week == pytest.approx(157, abs=5)
    assert config.responders.police_backup_probability == pytest.approx(0.006)
    assert {u.unit_id: u.team for u in config.responders.units} == {"MRU-1": "MRU", "CRT-1": "CRT", "CRT-2": "CRT"}
    assert (config.hotline.opens, config.hotline.closes) == (time(8), time(22))
    assert set(config.hotline.scope) == {"mental_health", "suicidal_ideation", "substance_use"}
    assert config.timezone == "America/New_York"
    # a 20-minute drive takes well under a minute of real time
    assert 20 * 60 / config.speed <= 60


def test_demo_config_extends_the_default():
    demo, default = load_config(DEMO_CONFIG), load_config()
    assert demo.cad == default.cad
    assert demo.console.no_answer_probability > default.console.no_answer_probability
    assert demo.console.accept_delay == default.console.accept_delay
    assert demo.start_time == time(21, 30)


def test_lognormal_matches_its_median_and_p90():
    dist = LogNormal(median=60, p90=300)
    rng = random.Random(1)
    samples = sorted(dist.sample(rng) for _ in range(20000))
    assert statistics.median(samples) == pytest.approx(60, rel=0.05)
    assert samples[int(0.9 * len(samples))] == pytest.approx(300, rel=0.06)
    capped = LogNormal(median=60, p90=300, cap=100)
    assert max(capped.sample(rng) for _ in range(2000)) <= 100


def test_delay_shorthands(tmp_path):
    config = load_config().with_overrides(
        console={"accept_delay": 7, "consult_duration": {"min": 1, "max": 2}},
        hotline={"answer_delay": {"median": 10, "p90": 20}},
    )
    assert config.console.accept_delay == Fixed(value=7)
    assert config.console.consult_duration == Uniform(min=1, max=2)
    assert config.hotline.answer_delay == LogNormal(median=10, p90=20)


def _write(tmp_path: Path, text: str, name: str = "sim.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_error_names_file_line_and_field_of_a_bad_value(tmp_path):
    path = _write(
        tmp_path,
        "extends: default.yaml\n"
        "seed: 3\n"
        "console:\n"
        "  clinicians: 2\n"
        "  accept_delay: {median: 90, p90: 30}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path.resolve()}:5: field 'console.accept_delay'")
    assert "p90 must be at least the median" in message


def test_error_names_a_misspelt_field(tmp_path):
    path = _write(tmp_path, "extends: default.yaml\nhotline:\n  scope: [mental_health]\n  open: '09:00'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path.resolve()}:4: field 'hotline.open': Extra inputs are not permitted"


def test_error_in_a_list_item_and_a_nested_weight(tmp_path):
    path = _write(
        tmp_path,
        "extends: default.yaml\n"
        "responders:\n"
        "  units:\n"
        "    - {unit_id: MRU-1, team: MRU}\n"
        "    - {unit_id: '', team: CRT}\n"
        "  outcomes:\n"
        "    resolved_on_scene: 5\n"
        "    arrested: 1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert any(l.startswith(f"{path.resolve()}:5: field 'responders.units.1.unit_id'") for l in lines), lines
    assert any(l.startswith(f"{path.resolve()}:8: field 'responders.outcomes.arrested'") for l in lines), lines


def test_error_in_the_extended_file_names_that_file(tmp_path):
    base = _write(tmp_path, DEFAULT_CONFIG.read_text().replace("clinicians: 2", "clinicians: 0"), "base.yaml")
    child = _write(tmp_path, "extends: base.yaml\nseed: 1\n", "child.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(child)
    line = _line_of(base, "clinicians: 0")
    assert str(info.value).startswith(f"{base.resolve()}:{line}: field 'console.clinicians'")


def test_missing_field_and_unknown_call_type(tmp_path):
    text = DEFAULT_CONFIG.read_text()
    text = text.replace("  psap_id: PSAP-SIM-01\n", "").replace("      medical: 22.0\n", "      medical: 22.0\n      unicorn: 1\n")
    text = text.replace("  calls_per_day: 480", "  # no volume")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path.resolve()}:{_line_of(path, 'cad:')}: field 'cad.calls_per_day': Field required" in message


def test_unknown_call_type_in_the_mix(tmp_path):
    path = _write(tmp_path, "extends: default.yaml\ncad:\n  call_mix:\n    base: {unicorn_sighting: 1}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "unicorn_sighting" in str(info.value)
    assert str(info.value).startswith(f"{path.resolve()}:")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = _write(tmp_path, "seed: 1\nconsole:\n  clinicians: [1, 2\n  x: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path.resolve()}:")
    assert "not valid YAML" in str(info.value)


def test_missing_file_and_missing_parent(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    path = _write(tmp_path, "seed: 1\nextends: nowhere.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path.resolve()}:2: field 'extends': no such file 'nowhere.yaml'"


def test_unquoted_clock_times_are_read_as_times(tmp_path):
    path = _write(tmp_path, "extends: default.yaml\nstart_time: 21:30\nhotline:\n  opens: 9:00\n  closes: 23:00\n")
    config = load_config(path)
    assert config.start_time == time(21, 30)
    assert (config.hotline.opens, config.hotline.closes) == (time(9), time(23))
