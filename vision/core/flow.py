"""The thresholds of the flow analytics (visits, crossings, buckets, staff, presence), as the site config sets them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlowSettings:
    min_inside_s: float = 1.0
    min_outside_s: float = 1.0
    line_margin_m: float = 0.3
    bucket_s: int = 60
    staff_share: float = 0.5
    max_gap_s: float = 2.0
    top_sequences: int = 10
