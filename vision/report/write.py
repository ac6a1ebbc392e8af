"""Writing a report folder: `index.html` (one self-contained page: Plotly's script is embedded, nothing is fetched),
a CSV per table and `summary.json`. The folder appears whole or not at all: it is built under a hidden temporary
name beside the target and renamed into place; an earlier report there is replaced only once the new one is
complete."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline

from vision.core.errors import OutputError
from vision.report.build import Report, suppressed_tables
from vision.report.charts import charts, comparison_chart, heatmap_figure
from vision.report.inputs import ReportError
from vision.sinks.atomic import current_umask, write_json_atomic, write_text_atomic

REPORT_FORMAT = "footfall-report"

_TITLES = {
    "cameras": "Cameras",
    "outages": "Gaps in coverage: figures are missing for these stretches, not low",
    "lines_by_bucket": "Footfall in and out per line",
    "lines_by_hour_of_day": "Footfall per line by hour of day",
    "zones": "Zones, hot to cold",
    "people_in_view": "People in view (average per bucket)",
    "people_per_zone": "People per zone (average per bucket)",
    "tracks_per_bucket": "Tracks per bucket",
    "segments": "Customer segments by time in view",
    "top_paths": "Top paths through the zones",
    "transitions": "Zone-to-zone transitions",
    "funnels": "Funnels",
    "queue_waits": "Queue waits by hour of day",
}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " → ".join(map(str, value))
    return str(value)


def shown_rows(rows: list[dict]) -> list[dict]:
    """Rows as the report shows them (every value as its text in the report's tables and CSV files)."""
    return [{key: _cell(value) for key, value in row.items()} for row in rows]


def csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def _html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p class='empty'>No data in this period.</p>"
    head = "".join(f"<th>{html.escape(str(key))}</th>" for key in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row.values()) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _div(figure: go.Figure) -> str:
    return plotly.offline.plot(figure, output_type="div", include_plotlyjs=False, config={"displaylogo": False})


def span_text(span: tuple[datetime, datetime] | None) -> str:
    """The time the data covers, to the second where that is what tells its two ends apart."""
    if span is None:
        return "no data"
    first, last = span
    if first.date() == last.date():
        precision = "%H:%M:%S" if (last - first).total_seconds() < 3600 else "%H:%M"
        return f"{first:%Y-%m-%d} {first.strftime(precision)} to {last.strftime(precision)}"
    return f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem}
th{background:#f4f4f4;text-align:left}td{text-align:right}td:first-child{text-align:left}.empty{color:#888}
.meta{color:#555;font-size:.9rem}
"""


def render_html(report: Report, tables: dict[str, list[dict]]) -> str:
    figures = charts(report, tables)
    options = report.options
    sections = []
    heatmap = heatmap_figure(report)
    order = [
        "cameras", "outages", "lines_by_bucket", "lines_by_hour_of_day", "people_in_view", "people_per_zone", "zones",
        "tracks_per_bucket", "segments", "transitions", "top_paths", "funnels", "queue_waits",
    ]  # fmt: skip
    for name in order:
        rows = tables.get(name)
        if rows is None:
            continue
        parts = [f"<h2 id='{name}'>{html.escape(_TITLES[name])}</h2>"]
        parts += [_div(figures[key]) for key in (name, f"{name}_density") if key in figures]
        parts.append(_html_table(rows))
        sections.append("".join(parts))
        if name == "zones" and heatmap is not None:
            drawn = _div(heatmap) if isinstance(heatmap, go.Figure) else f"<p class='empty'>{html.escape(heatmap)}</p>"
            sections.append(f"<h2 id='heatmap'>Dwell heatmap</h2>{drawn}")
    views = _camera_view_heatmaps(report, tables)
    if views:
        sections.append(
            "<h2 id='camera-views'>Where people spent time in each camera's view</h2><p class='meta'>The heatmap each "
            "run drew over its camera's picture with the people removed; it covers the whole run, not only this "
            f"period.</p>{views}"
        )
    if report.comparison is not None:
        sections.append(
            f"<h2 id='comparison'>Before ({html.escape(report.compare_label or '')}) and after "
            f"({html.escape(report.main.label)})</h2>"
            + _div(comparison_chart(report.comparison))
            + _html_table(report.comparison)
        )
    span = report.main.span
    covered = span_text(span)
    meta = (
        f"Site {html.escape(report.site or '(no site)')}, time zone {html.escape(report.timezone)}; cameras "
        f"{html.escape(', '.join(report.cameras))}; period {html.escape(report.main.label)} (data {covered}); "
        f"buckets of one {options.bucket}.{_without_data(report)} Figures resting on fewer than "
        f"{options.min_visitors} distinct tracks are shown as &lt;{options.min_visitors}. {people_note(report)} "
        f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC from {html.escape(', '.join(report.folders))}."
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>footfall report: {html.escape(report.site or ', '.join(report.cameras))}</title>"
        f"<style>{_STYLE}</style><script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>"
        f"<h1>footfall report: {html.escape(report.site or ', '.join(report.cameras))}</h1>"
        f"<p class='meta'>{meta}</p>{''.join(sections)}</body></html>"
    )


def _camera_view_heatmaps(report: Report, tables: dict[str, list[dict]]) -> str:
    """The runs' image-space heatmaps (heatmaps/<camera>.image.png) of the cameras in the report, embedded; a
    camera with fewer than --min-visitors tracks in the period is left out."""
    enough = {
        row["camera"]
        for row in tables.get("cameras", [])
        if isinstance(row["tracks"], int) and row["tracks"] >= report.options.min_visitors
    }
    pictures = []
    for folder in map(Path, report.folders):
        for path in sorted((folder / "heatmaps").glob("*.image.png")):
            camera = path.name.removesuffix(".image.png").split(".")[0]
            if camera in enough:
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                pictures.append(
                    f"<figure><img alt='dwell heatmap of camera {html.escape(camera)}' style='max-width:100%' "
                    f"src='data:image/png;base64,{data}'><figcaption>{html.escape(str(path))}</figcaption></figure>"
                )
    return "".join(pictures)


def people_note(report: Report, escape: bool = True) -> str:
    if report.main.visitors:
        offsets = "".join(
            f" Camera {html.escape(camera) if escape else camera}'s clock was moved by {figures['median']:+.2f} s"
            + (
                f" ({figures['min']:+.2f} to {figures['max']:+.2f} s over the hours)"
                if figures["min"] != figures["max"]
                else ""
            )
            + " to agree with the others'."
            for camera, figures in report.clock_offsets.items()
            if figures.get("median") is not None
        )
        return (
            "Tracks are visitors: site tracks, one per person followed across the cameras (a person seen by two "
            "cameras at once, or walking from one view into the next, counts once); the cameras table counts each "
            f"camera's own tracks.{offsets}"
        )
    return "Tracks, not people: a person lost and found again counts twice."


def _without_data(report: Report) -> str:
    if not report.cameras_without_data:
        return ""
    return f" No tracks in this period from {html.escape(', '.join(report.cameras_without_data))}."


def report_summary(report: Report, tables: dict[str, list[dict]]) -> dict:
    span = report.main.span
    return {
        "format": REPORT_FORMAT,
        "version": 1,
        "site": report.site,
        "timezone": report.timezone,
        "cameras": report.cameras,
        "cameras_without_data": report.cameras_without_data,
        "folders": report.folders,
        "period": {
            "label": report.main.label,
            "first": span[0].isoformat() if span else None,
            "last": span[1].isoformat() if span else None,
        },
        "bucket": report.options.bucket,
        "min_visitors": report.options.min_visitors,
        "segments_s": {"browser": report.options.browser_s, "dweller": report.options.dweller_s},
        "generated_at": report.generated_at,
        "tables": tables,
        "figures": report.main.summary,
        "comparison": report.comparison,
        "compare_period": report.compare_label,
    }


def default_report_folder(report: Report) -> Path:
    """Where a report goes when no --out is given: beside the record it reads, in the first output folder's
    `reports/`, named by when it was made (a second report never lands on the first)."""
    folder = Path(report.folders[0]) / "reports"
    name = f"report-{report.generated_at:%Y%m%d-%H%M%S}"
    candidate, number = folder / name, 2
    while candidate.exists():
        candidate, number = folder / f"{name}-{number}", number + 1
    return candidate


def write_report(report: Report, out_dir: Path, overwrite: bool = False) -> list[Path]:
    """Writes the report folder whole (see the module); returns the files written. An earlier report in
    `out_dir` is replaced only with `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_report(out_dir):
        raise ReportError(f"{out_dir} holds files that are not a footfall report; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ReportError(
            f"{out_dir} already holds a report; pass --overwrite to replace it, or choose another --out (without "
            "--out each report gets a folder of its own under the output folder's reports/)"
        )
    tables = suppressed_tables(report)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out_dir} ({exc.strerror}); choose another --out") from None
    try:
        for name, rows in tables.items():
            write_text_atomic(building / f"{name}.csv", csv_text(rows))
        if report.comparison is not None:
            write_text_atomic(building / "comparison.csv", csv_text(report.comparison))
        write_json_atomic(building / "summary.json", report_summary(report, tables))
        write_text_atomic(building / "index.html", render_html(report, tables))
        building.chmod(0o777 & ~current_umask())  # mkdtemp makes it 0700
        _swap_into_place(building, out_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return sorted(out_dir.iterdir())


def _is_report(folder: Path) -> bool:
    try:
        return json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("format") == REPORT_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _swap_into_place(building: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        building.rename(out_dir)
        return
    retired = out_dir.with_name(f".{out_dir.name}.old-{building.name}")
    out_dir.rename(retired)
    try:
        building.rename(out_dir)
    except BaseException:
        retired.rename(out_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)
