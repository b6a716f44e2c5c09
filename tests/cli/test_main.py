"""The top-level command line: a named subcommand loads only its own module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dispatchbus.cli.main import SUBCOMMANDS, build_parser

_PROBE = """
import sys
from dispatchbus.cli.main import build_parser
build_parser({command!r})
print(",".join(sorted(m for m in ("confluent_kafka", "faust", "dispatchbus.kafka.admin") if m in sys.modules)))
"""


def _heavy_modules_after(command: str | None) -> str:
    probe = _PROBE.format(command=command)
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def test_route_does_not_import_the_kafka_clients():
    assert _heavy_modules_after("route") == ""
    assert _heavy_modules_after(None) != ""  # the probe sees them when every subcommand is registered


def test_help_and_unknown_commands_list_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        build_parser("--help").parse_args(["--help"])
    with pytest.raises(SystemExit):
        build_parser("nope").parse_args(["nope"])
    out, err = capsys.readouterr()
    for name in SUBCOMMANDS:
        assert name in out and name in err
