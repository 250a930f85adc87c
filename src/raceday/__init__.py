"""raceday: race-day betting-market data from the NZ TAB API, kept in PostgreSQL 18 and served."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("raceday")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
