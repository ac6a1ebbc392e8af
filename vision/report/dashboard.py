"""What `footfall dashboard` shows, as JSON documents for its page: the same figures as `footfall report` (the same
`build_report`, the same suppression, the same Plotly charts), for the period, comparison, cameras, zones and
bucket the page asks for, and a "now" of the live service writing into the folders.

The record is read through a `RecordCache` (finished days are read once; a partition is read again only when its
files change), and answers for one question are kept until the record changes."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from vision.report.build import ReportOptions, build_report, record_span, suppressed_tables
from vision.report.charts import charts, comparison_chart, heatmap_figure
from vision.report.inputs import BUCKETS, Period, ReportError, RunFolders, open_run_folders, parse_when
from vision.report.record_cache import RecordCache
from vision.report.write import csv_text, people_note, shown_rows, span_text

PRESETS = ("today", "yesterday", "last-7-days", "this-month", "all", "custom")
_ANSWERS_KEPT = 32
LIVE_STALE_S = 30.0  # a service whose record is older than this is not live
_RECENT_EVENTS = 12


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """One question of the page: a period (a preset, or `custom` days), an optional comparison period, cameras,
    zones and the bucket."""

    period: str = "all"
    start: str | None = None
    end: str | None = None
    compare_start: str | None = None
    compare_end: str | None = None
    cameras: tuple[str, ...] | None = None
    zones: tuple[str, ...] | None = None
    bucket: str = "hour"

    @classmethod
    def from_query(cls, query: dict[str, list[str]]) -> ViewRequest:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1].strip() if values and values[-1].strip() else None

        def names(name: str) -> tuple[str, ...] | None:
            value = one(name)
            return tuple(sorted({part.strip() for part in value.split(",") if part.strip()})) if value else None

        period, bucket = one("period") or "all", one("bucket") or "hour"
        if period not in PRESETS:
            raise ReportError(f"period {period!r} is not one of {', '.join(PRESETS)}")
        if bucket not in BUCKETS:
            raise ReportError(f"bucket {bucket!r} is not one of {', '.join(BUCKETS)}")
        return cls(
            period=period, start=one("from"), end=one("to"), compare_start=one("compare_from"),
            compare_end=one("compare_to"), cameras=names("cameras"), zones=names("zones"), bucket=bucket,
        )  # fmt: skip


def _day(value: str | None, what: str) -> date:
    if value is None:
        raise ReportError(f"give the {what} day (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReportError(f"the {what} day {value!r} is not a date; write e.g. 2026-11-22") from None


def days_period(first: date, last: date, zone: ZoneInfo, label: str | None = None) -> Period:
    """Whole local days, `last` included."""
    if last < first:
        raise ReportError(f"the period ends ({last}) before it starts ({first})")
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return Period(start, end, label or (f"{first}" if first == last else f"{first} to {last}"))


def preset_period(request: ViewRequest, today: date, zone: ZoneInfo) -> Period | None:
    """The period a request names (None: all the data)."""
    match request.period:
        case "all":
            return None
        case "today":
            return days_period(today, today, zone, f"today, {today}")
        case "yesterday":
            day = today - timedelta(days=1)
            return days_period(day, day, zone, f"yesterday, {day}")
        case "last-7-days":
            return days_period(
                today - timedelta(days=6), today, zone, f"the last 7 days, {today - timedelta(days=6)} to {today}"
            )
        case "this-month":
            return days_period(today.replace(day=1), today, zone, f"this month, {today:%B %Y}")
        case _:
            return days_period(_day(request.start, "first"), _day(request.end, "last"), zone)


def default_view(first: date | None, last: date | None, today: date) -> tuple[str, str]:
    """The view the page opens on: today by the hour while the record reaches today, the last 7 days by the day
    where it reaches into them, or else all of it (by the hour when it is two days or less)."""
    if last is None or first is None:
        return "all", "hour"
    if last >= today:
        return "today", "hour"
    if last >= today - timedelta(days=6):
        return "last-7-days", "day"
    return "all", "hour" if (last - first).days < 2 else "day"


class Dashboard:
    """The dashboard's answers over one set of output folders; `clock` gives the current time (tests move it)."""

    def __init__(
        self, folders: list[Path], min_visitors: int = 5, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.folders = folders
        self.min_visitors = min_visitors
        self.clock = clock
        self.cache = RecordCache()
        self._answers: OrderedDict[tuple, dict] = OrderedDict()
        open_run_folders(folders)  # refuse folders that are not a record at once

    def _runs(self) -> RunFolders:
        return open_run_folders(self.folders)

    def today(self, runs: RunFolders) -> date:
        return self.clock().astimezone(ZoneInfo(runs.site.timezone)).date()

    def choices(self) -> dict:
        """What the page offers: cameras, zones, buckets, presets, and the days the record covers."""
        runs = self._runs()
        with self.cache.lock:
            self.cache.refresh(runs)
            span = self.cache.remember(("span", tuple(runs.folders)), lambda: [record_span(runs, None, self.cache)])[0]
        today = self.today(runs)
        period, bucket = default_view(span[0].date() if span else None, span[1].date() if span else None, today)
        return {
            "site": runs.site.site_id,
            "timezone": runs.site.timezone,
            "cameras": runs.cameras(),
            "zones": [zone["name"] for zone in runs.site.zones],
            "buckets": list(BUCKETS),
            "presets": list(PRESETS),
            "first_day": span[0].date().isoformat() if span else None,
            "last_day": span[1].date().isoformat() if span else None,
            "today": today.isoformat(),
            "default_period": period,
            "default_bucket": bucket,
            "min_visitors": self.min_visitors,
            "live": any(self._service_record(folder) is not None for folder in self.folders),
        }

    def warm(self) -> None:
        """Reads the record and answers the page's first question before anyone asks, then each period preset's
        (run in the background: a question from the page waits for one answer at most)."""
        try:
            choices = self.choices()
        except ReportError:
            return  # the page will say what is wrong when it asks
        first = ViewRequest(period=choices["default_period"], bucket=choices["default_bucket"])
        presets = [ViewRequest(period=period, bucket=choices["default_bucket"]) for period in PRESETS[:-1]]
        for request in [first, *presets]:
            try:
                self.view(request)
            except ReportError:
                continue  # a preset without data: the page says so when it is picked

    def options_for(self, request: ViewRequest, runs: RunFolders) -> ReportOptions:
        zone = ZoneInfo(runs.site.timezone)
        compare = None
        if request.compare_start or request.compare_end:
            compare = days_period(
                _day(request.compare_start, "first compared"), _day(request.compare_end, "last compared"), zone
            )
        known = set(runs.cameras())
        unknown = [camera for camera in request.cameras or () if camera not in known]
        if unknown:
            raise ReportError(f"no camera {unknown[0]!r} in this record; pick from {', '.join(sorted(known))}")
        zone_names = {zone_["name"] for zone_ in runs.site.zones}
        unknown = [name for name in request.zones or () if name not in zone_names]
        if unknown:
            raise ReportError(f"no zone {unknown[0]!r} in this site; pick from {', '.join(sorted(zone_names))}")
        return ReportOptions(
            period=preset_period(request, self.today(runs), zone), compare=compare, cameras=request.cameras,
            zones=request.zones, bucket=request.bucket, min_visitors=self.min_visitors,  # type: ignore[arg-type]
            with_summary=False,
        )  # fmt: skip

    def view(self, request: ViewRequest) -> dict:
        """Every table (suppressed), chart and note of one question, as the report would give them."""
        runs = self._runs()
        options = self.options_for(request, runs)
        with self.cache.lock:
            key = (request, self.today(runs), tuple(runs.cameras()), self.cache.refresh(runs))
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
            report = build_report(runs, options, self.cache)
            tables = suppressed_tables(report)
            figures = {name: json.loads(figure.to_json()) for name, figure in charts(report, tables).items()}
            heatmap = heatmap_figure(report)
            answer = {
                "site": report.site,
                "timezone": report.timezone,
                "period": report.main.label,
                "data": span_text(report.main.span),
                "cameras": report.cameras,
                "cameras_without_data": report.cameras_without_data,
                "people": report.main.people,
                "people_note": people_note(report, escape=False),
                "min_visitors": self.min_visitors,
                "bucket": options.bucket,
                "tables": {name: shown_rows(rows) for name, rows in tables.items()},
                "charts": figures,
                "heatmap": heatmap if isinstance(heatmap, str) or heatmap is None else json.loads(heatmap.to_json()),
                "comparison": shown_rows(report.comparison) if report.comparison is not None else None,
                "compare_period": report.compare_label,
                "comparison_chart": (
                    json.loads(comparison_chart(report.comparison).to_json()) if report.comparison else None
                ),
                "unreadable": [f"{part}: {why}" for part, why in sorted(self.cache.unreadable.items())],
            }
            answer = json.loads(json.dumps(answer, default=_plain))
            self._answers[key] = answer
            while len(self._answers) > _ANSWERS_KEPT:
                self._answers.popitem(last=False)
            return answer

    def csv(self, request: ViewRequest, table: str) -> str:
        """One table of a view as CSV, suppressed as on the page."""
        answer = self.view(request)
        if table == "comparison":
            return csv_text(answer["comparison"] or [])
        if table not in answer["tables"]:
            raise ReportError(f"no table {table!r} in this view; there are {', '.join(answer['tables'])}")
        return csv_text(answer["tables"][table])

    # -- now ------------------------------------------------------------------------------------------------------

    def _service_record(self, folder: Path) -> dict | None:
        try:
            record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("kind") == "service" else None

    def now(self) -> dict:
        """People in view and per zone now, each camera's health, and the newest zone and line events, from the
        records a running `footfall serve` keeps writing (run.json every few seconds, the live event feed)."""
        runs = self._runs()
        zone = ZoneInfo(runs.site.timezone)
        now = self.clock()
        cameras, people, zones, events, live = [], 0, {z["name"]: 0 for z in runs.site.zones}, [], False
        for folder in self.folders:
            record = self._service_record(folder)
            if record is None:
                continue
            updated = parse_when(record.get("updated_at"))
            fresh = record.get("status") == "running" and updated is not None
            fresh = fresh and (now - updated).total_seconds() <= LIVE_STALE_S
            live = live or fresh
            started = parse_when(record.get("started_at"))
            for camera in record.get("cameras") or []:
                if not isinstance(camera, dict):
                    continue
                in_view = int(camera.get("people_in_view") or 0) if fresh else 0
                people += in_view
                cameras.append(
                    {
                        "camera": camera.get("camera"),
                        "state": camera.get("state") if fresh else "not running",
                        "people_in_view": in_view,
                        "frames_analysed_per_s": camera.get("analysed_per_s"),
                        "last_frame": _local(camera.get("last_frame_at"), zone),
                        "reconnects": camera.get("reconnects"),
                        "outages": camera.get("outages"),
                        "last_error": camera.get("last_error"),
                    }
                )
            if fresh and started is not None:
                inside, recent = _feed_now(folder, started)
                for place in inside:
                    if place in zones:
                        zones[place] += 1
                events += recent
        events.sort(key=lambda event: event["t"], reverse=True)
        return {
            "live": live,
            "at": now.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            "people_in_view": people,
            "zones": zones,
            "cameras": cameras,
            "recent_events": [{**event, "t": _local(event["t"], zone)} for event in events[:_RECENT_EVENTS]],
        }


def _feed_now(folder: Path, since: datetime) -> tuple[list[str], list[dict]]:
    """From the live feed of each camera (its two newest hour files): the zone of each person inside now (entered
    since the service started, not left) and the newest events, without the track pseudonyms."""
    inside: dict[tuple[str, str, str], bool] = {}
    recent: list[dict] = []
    for camera in sorted((folder / "live").glob("camera=*")):
        files = sorted(camera.glob("date=*/events-*.jsonl"))[-2:]
        for path in files:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue  # gone while reading
            for line in lines:
                try:
                    event = json.loads(line)
                    t = parse_when(event["t"])
                    key = (str(event["camera"]), str(event["track"]), str(event["place"]))
                    kind = str(event["event"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a killed writer
                if t is None or t < since - timedelta(seconds=5):
                    continue
                if kind in ("enter", "exit"):
                    inside[key] = kind == "enter"
                recent.append({"t": event["t"], "camera": key[0], "event": kind, "place": key[2]})
    return [place for (_, _, place), is_inside in inside.items() if is_inside], recent


def _local(value: object, zone: ZoneInfo) -> str | None:
    when = parse_when(value)
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if when else None


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
