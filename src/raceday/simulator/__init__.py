"""An offline NZ TAB: generates a race day anchored on now and serves it on the real API paths.

Everything it serves is marked simulated (`header.simulated` and `X-Raceday-Simulated: true`).
"""

from raceday.core.clock import Clock, ManualClock, ScaledClock
from raceday.simulator.day import SimDay
from raceday.simulator.faults import FaultRegistry, FaultRule, RequestLog, RequestRecord
from raceday.simulator.model import DayConfig, MeetingQuota, SimMeeting, SimRace, SimRunner
from raceday.simulator.server import Simulator, serve_simulator

__all__ = [
    "Clock",
    "DayConfig",
    "FaultRegistry",
    "FaultRule",
    "ManualClock",
    "MeetingQuota",
    "RequestLog",
    "RequestRecord",
    "ScaledClock",
    "SimDay",
    "SimMeeting",
    "SimRace",
    "SimRunner",
    "Simulator",
    "serve_simulator",
]
