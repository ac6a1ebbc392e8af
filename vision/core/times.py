"""Which wall-clock times a recording can plausibly start at. Far-off years are refused: they overflow when frame
times are added and converted between zones, and they are always a mistake (a typo, a camera without a clock)."""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST_START = datetime(1970, 1, 2, tzinfo=UTC)
LATEST_START = datetime(2200, 1, 1, tzinfo=UTC)
PLAUSIBLE_RANGE = "1970 to 2199"


def is_plausible_start(value: datetime) -> bool:
    """Whether a time-zone-aware start time lies in `PLAUSIBLE_RANGE`."""
    return EARLIEST_START <= value < LATEST_START
