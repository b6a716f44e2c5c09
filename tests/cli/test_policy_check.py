"""`dispatchbus policy check` and `policy show`."""

from __future__ import annotations

import argparse
from importlib import resources

import pytest

from dispatchbus.cli import policy

MODELS = ("911-led", "embedded-professional", "external-hotline")


def run(argv, capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="dispatchbus")
    policy.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["policy", *argv])
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def reference_path(model: str) -> str:
    return str(resources.files("dispatchbus.policy.reference").joinpath(f"{model}.yaml"))


def test_check_reference_policies(capsys):
    code, out, err = run(["check", *(reference_path(m) for m in MODELS)], capsys)
    assert code == 0 and err == ""
    assert out.splitlines() == [f"OK reference 1.0.0 ({m})" for m in MODELS]


def test_check_reports_errors_with_file_line_and_field(tmp_path, capsys):
    text = open(reference_path("911-led")).read()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("weekdays: 09:00-21:00", "weekdays: 09:00-25:00"))
    line = next(n for n, l in enumerate(bad.read_text().splitlines(), 1) if "25:00" in l)
    code, out, err = run(["check", reference_path("911-led"), str(bad)], capsys)
    assert code == 1
    assert out == "OK reference 1.0.0 (911-led)\n"
    assert err == f"{bad}:{line}: teams[0].hours.weekdays: end 25:00 is not a valid time\n"


def test_check_missing_file(tmp_path, capsys):
    code, out, err = run(["check", str(tmp_path / "nope.yaml")], capsys)
    assert code == 1 and out == "" and "cannot read" in err


def test_check_needs_a_file(capsys):
    with pytest.raises(SystemExit):
        run(["check"], capsys)


@pytest.mark.parametrize("model", MODELS)
def test_show_model(capsys, model):
    code, out, _ = run(["show", "--model", model], capsys)
    assert code == 0
    assert out.startswith(f"reference 1.0.0: {model}, hours in America/New_York\n")
    assert "MRU (Mediation response unit): units MRU-1; mon-fri 09:00-21:00" in out
    assert "CRT (Community responder team): units CRT-1, CRT-2; daily 07:00-23:00" in out
    assert "community_responder -> police" in out


def test_show_file(capsys):
    code, out, _ = run(["show", reference_path("external-hotline")], capsys)
    assert code == 0 and "external_hotline (daily 08:00-22:00):" in out
