"""Agency simulators that speak only Kafka topics and the event contract.

Each simulator is a class with a pure core (``start``/``tick``/``handle``
returning ``(delay_seconds, event, topic_spec)`` tuples) and ``run(stop_event)``
on Kafka. :func:`start_simulators` runs several in threads on one simulated clock.
"""

from .cad import CadSimulator
from .config import ConfigError, SimulatorConfig, load_config
from .console import ConsoleSimulator
from .hotline import HotlineSimulator
from .responders import ResponderSimulator
from .run import SIMULATORS, SimulatorThread, build_simulators, start_simulators, stop_simulators
from .runtime import Emit, ManualClock, SimClock, Simulator

__all__ = [
    "SIMULATORS",
    "CadSimulator",
    "ConfigError",
    "ConsoleSimulator",
    "Emit",
    "HotlineSimulator",
    "ManualClock",
    "ResponderSimulator",
    "SimClock",
    "Simulator",
    "SimulatorConfig",
    "SimulatorThread",
    "build_simulators",
    "load_config",
    "start_simulators",
    "stop_simulators",
]
