"""`raceday simulate`'s options, fault specs, and a real run that logs it is a simulator."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from raceday.simulator import DayConfig, FaultRule, MeetingQuota
from raceday.simulator.cli import (
    add_simulate_arguments,
    load_faults,
    parse_fault,
    run_simulate,
)

REPO = Path(__file__).resolve().parents[2]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults() -> None:
    args = _parse()
    assert (args.host, args.port, args.seed, args.speed) == ("127.0.0.1", 8765, 1, 1.0)
    assert args.meetings is None
    assert args.fault == []


def test_options_are_parsed() -> None:
    args = _parse(
        "--seed",
        "7",
        "--speed",
        "10",
        "--meetings",
        "NZ:T=1,AUS:G=3",
        "--fault",
        "events:error:503:times=2",
        "--fault",
        "any:latency:delay_s=0.5",
    )
    assert args.seed == 7
    assert args.speed == 10.0
    assert args.meetings == DayConfig(meetings=(MeetingQuota("NZ", "T", 1), MeetingQuota("AUS", "G", 3)))
    assert args.fault == [
        FaultRule(endpoint="events", kind="error", status=503, times=2),
        FaultRule(endpoint="any", kind="latency", delay_s=0.5),
    ]


@pytest.mark.parametrize(
    "spec",
    ["events", "events:explode", "events:error:times", "nowhere:error", "events:error:999"],
)
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_fault(spec)
    with pytest.raises(SystemExit):
        _parse("--fault", spec)


def test_fault_spec_covers_every_field() -> None:
    rule = parse_fault("events:missing_field:race_id=abc:field=data.race.status:times=1")
    assert rule == FaultRule(
        endpoint="events", kind="missing_field", race_id="abc", field="data.race.status", times=1
    )
    assert parse_fault("list:rate_limit:retry_after_s=2.5").retry_after_s == 2.5


def test_faults_file_holds_one_rule_or_a_list(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"endpoint": "meetings", "kind": "timeout", "delay_s": 5}))
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"kind": "malformed"}, {"kind": "error", "status": 500}]))

    assert load_faults(one) == [FaultRule(endpoint="meetings", kind="timeout", delay_s=5)]
    assert [rule.kind for rule in load_faults(many)] == ["malformed", "error"]


def test_a_bad_faults_file_stops_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "nope"}))
    assert run_simulate(_parse("--faults-file", str(bad), "--port", "0")) == 2
    assert run_simulate(_parse("--faults-file", str(tmp_path / "absent.json"))) == 2


_CHILD = """
import argparse, sys
from raceday.core.log import configure_logging
from raceday.simulator.cli import add_simulate_arguments, run_simulate
configure_logging()
parser = argparse.ArgumentParser()
add_simulate_arguments(parser)
sys.exit(run_simulate(parser.parse_args(sys.argv[1:])))
"""


def test_a_real_run_logs_that_it_is_a_simulator_and_stops_cleanly() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            "--port",
            "0",
            "--meetings",
            "NZ:T=1",
            "--fault",
            "events:error:503:times=1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = None
        for line in child.stdout:
            record = json.loads(line)
            if record["msg"].startswith("SIMULATED DATA: simulator ready"):
                ready = record
                break
        assert ready is not None
        assert ready["simulated"] is True
        status = httpx.get(f"{ready['base_url']}/_sim/status", timeout=5).json()
        assert status["simulator"] is True
        assert status["faults"] == 1
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
