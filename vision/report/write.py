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

import cv2
import numpy as np
import plotly.graph_objects as go
import plotly.offline

from vision.core.errors import OutputError
from vision.report.build import Report, suppressed_tables
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
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " → ".join(map(str, value))
    return str(value)


def _csv(rows: list[dict]) -> str:
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


def _numeric(rows: list[dict], key: str) -> list[float | None]:
    return [row[key] if isinstance(row[key], int | float) else None for row in rows]


def _figure(figure: go.Figure, title: str, y_title: str = "", x_title: str = "", height: int = 380) -> str:
    figure.update_layout(
        title=title, template="plotly_white", height=height, margin={"t": 60, "b": 50, "l": 60, "r": 20},
        xaxis_title=x_title, yaxis_title=y_title, legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return plotly.offline.plot(figure, output_type="div", include_plotlyjs=False, config={"displaylogo": False})


def _line_bars(rows: list[dict], x_key: str) -> go.Figure:
    """In and out crossings per line as grouped bars along `x_key`."""
    figure = go.Figure()
    for line in sorted({row["line"] for row in rows}):
        mine = [row for row in rows if row["line"] == line]
        for direction in ("in", "out"):
            figure.add_bar(x=[row[x_key] for row in mine], y=_numeric(mine, direction), name=f"{line} {direction}")
    return figure


def _charts(report: Report, tables: dict[str, list[dict]]) -> dict[str, str]:
    charts: dict[str, str] = {}
    bucket = report.options.bucket
    lines = tables.get("lines_by_bucket", [])
    if lines:
        axis = f"{bucket} ({report.timezone})"
        charts["lines_by_bucket"] = _figure(_line_bars(lines, "bucket"), f"Footfall per {bucket}", "crossings", axis)
    by_hour = tables.get("lines_by_hour_of_day", [])
    if by_hour:
        figure = _line_bars(by_hour, "hour")
        charts["lines_by_hour_of_day"] = _figure(figure, "Footfall by hour of day", "crossings", "hour of day")
    for key in ("people_in_view", "people_per_zone"):
        rows = tables.get(key, [])
        if rows:
            figure = go.Figure()
            for place in sorted({row["place"] for row in rows}):
                mine = [row for row in rows if row["place"] == place]
                figure.add_scatter(
                    x=[r["bucket"] for r in mine], y=_numeric(mine, "people"), name=place, mode="lines+markers"
                )
            charts[key] = _figure(figure, _TITLES[key], "people (average)", f"{bucket} ({report.timezone})")
    zones = tables.get("zones", [])
    if zones:
        figure = go.Figure()
        names = [row["zone"] for row in zones]
        figure.add_bar(x=names, y=_numeric(zones, "dwell_median_s"), name="dwell median")
        figure.add_bar(x=names, y=_numeric(zones, "dwell_p90_s"), name="dwell p90")
        charts["zones"] = _figure(figure, "Dwell per zone", "seconds", "zone")
        density = go.Figure(
            go.Bar(
                x=names, y=_numeric(zones, "person_seconds_per_m2"),
                marker_color=["#4575b4" if row.get("cold") else "#d73027" for row in zones],
                text=["cold" if row.get("cold") else "" for row in zones], textposition="outside",
            )
        )  # fmt: skip
        charts["zones_density"] = _figure(density, "Zones hot to cold", "person-seconds per m²", "zone")
    transitions = tables.get("transitions", [])
    counted = [row for row in transitions if isinstance(row["moves"], int)]
    if counted:
        labels = sorted({row["from"] for row in counted} | {row["to"] for row in counted})
        sources = [labels.index(row["from"]) for row in counted]
        targets = [labels.index(row["to"]) + len(labels) for row in counted]
        sankey = go.Figure(
            go.Sankey(
                node={"label": [f"{name} (from)" for name in labels] + [f"{name} (to)" for name in labels]},
                link={"source": sources, "target": targets, "value": [row["moves"] for row in counted]},
            )
        )
        charts["transitions"] = _figure(sankey, "Zone-to-zone flow")
    funnels = tables.get("funnels", [])
    if funnels:
        figure = go.Figure()
        for name in sorted({row["funnel"] for row in funnels}):
            rows = [row for row in funnels if row["funnel"] == name]
            figure.add_trace(go.Funnel(y=[row["zone"] for row in rows], x=_numeric(rows, "tracks"), name=name))
        charts["funnels"] = _figure(figure, "Funnels", "", "tracks")
    waits = tables.get("queue_waits", [])
    if waits:
        figure = go.Figure()
        for key in ("wait_p50_s", "wait_p90_s", "wait_p95_s"):
            figure.add_bar(x=[f"{row['zone']} {row['hour']:02d}h" for row in waits], y=_numeric(waits, key), name=key)
        charts["queue_waits"] = _figure(figure, "Queue waits by hour", "seconds", "queue, hour of day")
    segments = tables.get("segments", [])
    if segments and all(isinstance(row["tracks"], int) for row in segments):
        pie = go.Figure(go.Pie(labels=[row["segment"] for row in segments], values=[row["tracks"] for row in segments]))
        charts["segments"] = _figure(pie, "Customer segments")
    return charts


def _heatmap_chart(report: Report) -> str | None:
    heatmap, grid = report.main.heatmap, report.grid
    if heatmap is None or grid is None:
        return None
    if report.main.heatmap_tracks < report.options.min_visitors:
        return f"<p class='empty'>Heatmap suppressed: fewer than {report.options.min_visitors} tracks.</p>"
    cell = float(grid["cell_m"])
    xs = float(grid["x0_m"]) + cell * (np.arange(heatmap.shape[1]) + 0.5)
    ys = float(grid["y0_m"]) + cell * (np.arange(heatmap.shape[0]) + 0.5)
    values = np.where(heatmap > heatmap.max() * 1e-3, heatmap, np.nan) if heatmap.max() > 0 else heatmap
    figure = go.Figure(
        go.Heatmap(
            x=xs, y=ys, z=values, colorscale="Inferno", reversescale=True,
            colorbar={"title": {"text": "person-seconds per cell"}},
        )
    )  # fmt: skip
    for outline in _zone_outlines(report):
        figure.add_scatter(**outline)
    figure.update_yaxes(scaleanchor="x", scaleratio=1, autorange="reversed")  # plan rows run down the page
    if report.floor_plan is not None:
        _draw_plan_below(figure, report.floor_plan)
    cameras = ", ".join(report.cameras)
    title = (
        f"Dwell heatmap, {report.site or 'site'} ({cameras}), {report.main.label}, "
        f"smoothed {report.options.smooth_m:g} m"
    )
    figure.update_xaxes(constrain="domain")  # keep metres square by narrowing the plot, not widening the floor
    return _figure(figure, title, "y (m)", "x (m)", height=640)


_PLAN_MAX_SIDE = 1600


def _draw_plan_below(figure: go.Figure, plan: dict) -> None:
    """The floor-plan picture under the heatmap, placed in floor metres (its top-left corner at `origin`), as the
    site config maps it; embedded in the page as a PNG."""
    image = cv2.imread(plan["image"], cv2.IMREAD_COLOR)
    if image is None:
        return
    height, width = image.shape[:2]
    scale = min(1.0, _PLAN_MAX_SIDE / max(width, height))
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        return
    x0, y0 = plan["origin"]
    metres = float(plan["metres_per_pixel"])
    figure.add_layout_image(
        source="data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii"),
        x=x0, y=y0, sizex=width * metres, sizey=height * metres, xref="x", yref="y",
        xanchor="left", yanchor="top", sizing="stretch", layer="below",
    )  # fmt: skip
    figure.update_xaxes(range=[x0, x0 + width * metres])
    figure.update_yaxes(range=[y0 + height * metres, y0], autorange=False)
    figure.update_traces(opacity=0.75, selector={"type": "heatmap"})


def _zone_outlines(report: Report) -> list[dict]:
    outlines = []
    for zone in report.zone_shapes:
        points = [*zone["polygon"], zone["polygon"][0]]
        outlines.append(
            {
                "x": [p[0] for p in points], "y": [p[1] for p in points], "mode": "lines+text", "name": zone["name"],
                "line": {"color": "#2c7fb8", "width": 2}, "showlegend": False,
                "text": [zone["name"]] + [""] * (len(points) - 1), "textposition": "top right",
            }
        )  # fmt: skip
    return outlines


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem}
th{background:#f4f4f4;text-align:left}td{text-align:right}td:first-child{text-align:left}.empty{color:#888}
.meta{color:#555;font-size:.9rem}
"""


def render_html(report: Report, tables: dict[str, list[dict]]) -> str:
    charts = _charts(report, tables)
    options = report.options
    sections = []
    heatmap = _heatmap_chart(report)
    order = [
        "cameras", "outages", "lines_by_bucket", "lines_by_hour_of_day", "people_in_view", "people_per_zone", "zones",
        "tracks_per_bucket", "segments", "transitions", "top_paths", "funnels", "queue_waits",
    ]  # fmt: skip
    for name in order:
        rows = tables.get(name)
        if rows is None:
            continue
        parts = [f"<h2 id='{name}'>{html.escape(_TITLES[name])}</h2>"]
        parts += [charts[key] for key in (name, f"{name}_density") if key in charts]
        parts.append(_html_table(rows))
        sections.append("".join(parts))
        if name == "zones" and heatmap is not None:
            sections.append(f"<h2 id='heatmap'>Dwell heatmap</h2>{heatmap}")
    views = _camera_view_heatmaps(report, tables)
    if views:
        sections.append(
            "<h2 id='camera-views'>Where people spent time in each camera's view</h2><p class='meta'>The heatmap each "
            "run drew over its camera's picture with the people removed; it covers the whole run, not only this "
            f"period.</p>{views}"
        )
    if report.comparison is not None:
        changed = [row for row in report.comparison if row["change_pct"] is not None][:15]
        bars = go.Figure(
            go.Bar(x=[row["change_pct"] for row in changed], y=[row["figure"] for row in changed], orientation="h")
        )
        bars.update_yaxes(autorange="reversed")
        sections.append(
            f"<h2 id='comparison'>Before ({html.escape(report.compare_label or '')}) and after "
            f"({html.escape(report.main.label)})</h2>"
            + _figure(bars, "Largest changes", "", "change (%)")
            + _html_table(report.comparison)
        )
    span = report.main.span
    covered = f"{span[0]:%Y-%m-%d %H:%M} to {span[1]:%Y-%m-%d %H:%M}" if span else "no data"
    meta = (
        f"Site {html.escape(report.site or '(no site)')}, time zone {html.escape(report.timezone)}; cameras "
        f"{html.escape(', '.join(report.cameras))}; period {html.escape(report.main.label)} (data {covered}); "
        f"buckets of one {options.bucket}.{_without_data(report)} Figures resting on fewer than "
        f"{options.min_visitors} distinct tracks are shown as &lt;{options.min_visitors}. {_people_note(report)} "
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


def _people_note(report: Report) -> str:
    if report.main.visitors:
        offsets = "".join(
            f" Camera {html.escape(camera)}'s clock was moved by {figures['median']:+.2f} s"
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


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """Writes the report folder whole (see the module); returns the files written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_report(out_dir):
        raise ReportError(f"{out_dir} holds files that are not a footfall report; choose another --out")
    tables = suppressed_tables(report)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out_dir} ({exc.strerror}); choose another --out") from None
    try:
        for name, rows in tables.items():
            write_text_atomic(building / f"{name}.csv", _csv(rows))
        if report.comparison is not None:
            write_text_atomic(building / "comparison.csv", _csv(report.comparison))
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
