"""`raceday simulate`: serve the offline NZ TAB simulator until interrupted.

`raceday/cli.py` adds the subcommand and calls `add_simulate_arguments` and `run_simulate`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from raceday.core.log import get_logger
from raceday.simulator.faults import FaultRule
from raceday.simulator.model import DayConfig
from raceday.simulator.server import serve_simulator

log = get_logger(__name__)

_RULES = TypeAdapter(list[FaultRule])


def parse_fault(spec: str) -> FaultRule:
    """`ENDPOINT:KIND[:STATUS][:key=value...]`, e.g. `events:error:503:times=2`.

    Keys are the FaultRule fields (`race_id`, `delay_s`, `retry_after_s`, `field`, `times`, `ratio`).
    """
    parts = spec.split(":")
    if len(parts) < 2:
        raise ValueError(f"bad fault {spec!r}: expected ENDPOINT:KIND[:STATUS][:key=value...]")
    fields: dict[str, object] = {"endpoint": parts[0], "kind": parts[1]}
    for part in parts[2:]:
        if part.isdigit():
            fields["status"] = int(part)
            continue
        key, separator, value = part.partition("=")
        if not separator:
            raise ValueError(f"bad fault option {part!r} in {spec!r}: expected key=value")
        fields[key] = value
    return FaultRule.model_validate(fields)


def load_faults(path: Path) -> list[FaultRule]:
    """Fault rules from a JSON file holding one rule object or a list of them."""
    raw = json.loads(path.read_text("utf-8"))
    return _RULES.validate_python(raw if isinstance(raw, list) else [raw])


def _fault_arg(spec: str) -> FaultRule:
    try:
        return parse_fault(spec)
    except (ValueError, ValidationError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _meetings_arg(spec: str) -> DayConfig:
    try:
        return DayConfig.parse(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """The `simulate` subcommand's options."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same day")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="sim seconds per real second (10 = ten times)"
    )
    parser.add_argument(
        "--meetings",
        type=_meetings_arg,
        default=None,
        help="meetings per country and category, e.g. NZ:T=2,NZ:H=2,AUS:T=6,AUS:G=4 "
        "(default: a NZ + AUS gallops and harness day)",
    )
    parser.add_argument(
        "--fault",
        type=_fault_arg,
        action="append",
        default=[],
        metavar="ENDPOINT:KIND[:STATUS][:key=value]",
        help="inject a fault, e.g. events:error:503:times=2 or any:latency:delay_s=0.5",
    )
    parser.add_argument("--faults-file", type=Path, help="JSON file of fault rules")


async def _serve(args: argparse.Namespace, faults: list[FaultRule]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_simulator(
        seed=args.seed, speed=args.speed, meetings=args.meetings, port=args.port, host=args.host
    ) as simulator:
        for rule in faults:
            simulator.faults.add(rule)
        log.info(
            "SIMULATED DATA: simulator ready; point NZTAB_API_URL here, every response is marked simulated",
            base_url=simulator.base_url,
            status_url=f"{simulator.base_url}/_sim/status",
            faults=len(faults),
            simulated=True,
        )
        await stop.wait()


def run_simulate(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM; 0 on a clean stop, 2 on a bad faults file."""
    faults: list[FaultRule] = list(args.fault)
    if args.faults_file is not None:
        try:
            faults += load_faults(args.faults_file)
        except (OSError, ValueError, ValidationError) as error:
            log.error("cannot read the faults file", path=str(args.faults_file), error=str(error))
            return 2
    asyncio.run(_serve(args, faults))
    return 0
