"""The charts of a report, as Plotly figures: the report page embeds them and the dashboard sends them to the
browser as JSON, so both draw the same picture of the same figures.

Every chart says what it cannot show: a figure hidden under `--min-visitors` is drawn as a zero bar labelled
`<k`, and a chart whose figures are all hidden says so across it. Time buckets are bars centred on their bucket
with the bucket's own label, so one bucket is one readable bar, and counts start from zero."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta

import cv2
import numpy as np
import plotly.graph_objects as go

from vision.core.heat_colours import plotly_colorscale
from vision.report.build import Report

_BUCKET_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_BUCKET_LABEL = {"hour": "%d %b %H:%M", "day": "%a %d %b", "week": "week of %d %b %Y"}
_MAX_LABELLED_BUCKETS = 24
_HOT, _COLD = "#bd0026", "#4575b4"
PLAN_MAX_SIDE = 1600


def bucket_label(value: datetime | date, bucket: str) -> str:
    return value.strftime(_BUCKET_LABEL[bucket])


def _is_hidden(value: object) -> bool:
    return isinstance(value, str) and value.startswith("<")


def _values(rows: list[dict], key: str) -> list[float]:
    return [float(row[key]) if isinstance(row[key], int | float) else 0.0 for row in rows]


def _hidden_labels(rows: list[dict], key: str) -> list[str]:
    return [str(row[key]) if _is_hidden(row[key]) else "" for row in rows]


def _layout(figure: go.Figure, title: str, y_title: str = "", x_title: str = "", height: int = 380) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.01}, template="plotly_white", height=height,
        margin={"t": 60, "b": 60, "l": 70, "r": 30}, legend={"orientation": "h", "y": -0.25},
        uniformtext={"minsize": 10, "mode": "show"},
    )  # fmt: skip
    figure.update_xaxes(title_text=x_title, automargin=True)
    figure.update_yaxes(title_text=y_title, automargin=True)
    return figure


def _note_if_all_hidden(figure: go.Figure, rows: list[dict], key: str, min_visitors: int) -> None:
    if rows and all(_is_hidden(row[key]) for row in rows):
        figure.add_annotation(
            text=f"Every figure here rests on fewer than {min_visitors} people and is hidden (&lt;{min_visitors})",
            xref="paper", yref="paper", x=0.5, y=0.6, showarrow=False, font={"size": 14, "color": "#555"},
        )  # fmt: skip


def _counts_from_zero(figure: go.Figure, rows: list[dict], keys: tuple[str, ...]) -> None:
    """Counts and averages never go below zero; an axis with nothing above zero still shows 0 to 1."""
    top = max((value for key in keys for value in _values(rows, key)), default=0.0)
    figure.update_yaxes(rangemode="tozero", range=None if top > 0 else [0, 1])


def _time_bars(figure: go.Figure, series: list[tuple[str, list[dict], str]], bucket: str) -> None:
    """Bars per bucket, one trace per (name, rows, value key), side by side within each bucket's own width, on a
    date axis: a gap in the buckets stays a gap. Hidden figures are zero bars labelled `<k`."""
    step = _BUCKET_STEP[bucket]
    step_ms = step.total_seconds() * 1000
    width = 0.8 * step_ms / max(1, len(series))
    buckets: set[datetime] = set()
    for index, (name, rows, key) in enumerate(series):
        starts = [row["bucket"] for row in rows]
        buckets.update(starts)
        figure.add_bar(
            x=[start + step / 2 for start in starts], y=_values(rows, key), name=name, width=width,
            offset=-0.4 * step_ms + index * width, text=_hidden_labels(rows, key), textposition="outside",
            cliponaxis=False, customdata=[bucket_label(start, bucket) for start in starts],
            hovertemplate="%{customdata}: %{y}<extra>" + name + "</extra>",
        )  # fmt: skip
    figure.update_layout(barmode="overlay")
    if buckets:
        first, last = min(buckets), max(buckets)
        figure.update_xaxes(type="date", range=[first - step * 0.1, last + step * 1.1])
        if len(buckets) <= _MAX_LABELLED_BUCKETS:
            ordered = sorted(buckets)
            figure.update_xaxes(
                tickvals=[start + step / 2 for start in ordered], ticktext=[bucket_label(s, bucket) for s in ordered]
            )


def _category_bars(figure: go.Figure, labels: list[str], rows: list[dict], key: str, name: str, **style) -> None:
    figure.add_bar(
        x=labels, y=_values(rows, key), name=name, text=_hidden_labels(rows, key), textposition="outside",
        cliponaxis=False, **style,
    )  # fmt: skip
    figure.update_xaxes(type="category")


def _by_group(rows: list[dict], group: str) -> list[tuple[str, list[dict]]]:
    return [(name, [row for row in rows if row[group] == name]) for name in sorted({row[group] for row in rows})]


def charts(report: Report, tables: dict[str, list[dict]]) -> dict[str, go.Figure]:
    """Each table's chart(s), by table name (`zones_density` beside `zones`), from the suppressed tables."""
    k = report.options.min_visitors
    bucket, where = report.options.bucket, report.timezone
    out: dict[str, go.Figure] = {}
    lines = tables.get("lines_by_bucket", [])
    if lines:
        figure = go.Figure()
        series = [(f"{line} {way}", mine, way) for line, mine in _by_group(lines, "line") for way in ("in", "out")]
        _time_bars(figure, series, bucket)
        _counts_from_zero(figure, lines, ("in", "out"))
        _note_if_all_hidden(figure, lines, "in", k)
        title = f"Footfall in and out per {bucket}"
        out["lines_by_bucket"] = _layout(figure, title, "crossings", f"{bucket} ({where})")
    by_hour = tables.get("lines_by_hour_of_day", [])
    if by_hour:
        figure = go.Figure()
        for line, mine in _by_group(by_hour, "line"):
            for way in ("in", "out"):
                _category_bars(figure, [f"{row['hour']:02d}:00" for row in mine], mine, way, f"{line} {way}")
        figure.update_layout(barmode="group")
        _counts_from_zero(figure, by_hour, ("in", "out"))
        _note_if_all_hidden(figure, by_hour, "in", k)
        out["lines_by_hour_of_day"] = _layout(figure, "Footfall by hour of day", "crossings", f"hour of day ({where})")
    for key, title in (("people_in_view", "People in view"), ("people_per_zone", "People per zone")):
        rows = tables.get(key, [])
        if rows:
            figure = go.Figure()
            _time_bars(figure, [(place, mine, "people") for place, mine in _by_group(rows, "place")], bucket)
            _counts_from_zero(figure, rows, ("people",))
            _note_if_all_hidden(figure, rows, "people", k)
            subtitle = f"{title}: average over the footage in each {bucket}"
            out[key] = _layout(figure, subtitle, "people (average)", f"{bucket} ({where})")
    zones = tables.get("zones", [])
    if zones:
        names = [row["zone"] for row in zones]
        figure = go.Figure()
        _category_bars(figure, names, zones, "dwell_median_s", "dwell median")
        _category_bars(figure, names, zones, "dwell_p90_s", "dwell p90")
        figure.update_layout(barmode="group")
        _counts_from_zero(figure, zones, ("dwell_median_s", "dwell_p90_s"))
        _note_if_all_hidden(figure, zones, "dwell_median_s", k)
        out["zones"] = _layout(figure, "Dwell per zone", "seconds", "zone")
        density = go.Figure()
        colours = [_COLD if row.get("cold") else _HOT for row in zones]
        _category_bars(density, names, zones, "person_seconds_per_m2", "person-seconds per m²", marker_color=colours)
        density.update_traces(
            text=[
                str(row["person_seconds_per_m2"]) if _is_hidden(row["person_seconds_per_m2"]) else
                ("cold" if row.get("cold") else "")
                for row in zones
            ]
        )  # fmt: skip
        _counts_from_zero(density, zones, ("person_seconds_per_m2",))
        out["zones_density"] = _layout(density, "Zones hot to cold (blue: cold)", "person-seconds per m²", "zone")
    transitions = tables.get("transitions", [])
    if transitions:
        out["transitions"] = _sankey(transitions, k)
    funnels = tables.get("funnels", [])
    if funnels:
        figure = go.Figure()
        for name, rows in _by_group(funnels, "funnel"):
            figure.add_trace(
                go.Funnel(
                    y=[row["zone"] for row in rows], x=_values(rows, "tracks"), name=name,
                    text=[str(row["tracks"]) for row in rows], textinfo="text",
                    textposition=["outside" if _is_hidden(row["tracks"]) else "inside" for row in rows],
                )
            )  # fmt: skip
        _note_if_all_hidden(figure, funnels, "tracks", k)
        out["funnels"] = _layout(figure, "Funnels", "step", "tracks reaching the step")
    waits = tables.get("queue_waits", [])
    if waits:
        figure = go.Figure()
        labels = [f"{row['zone']} {row['hour']:02d}:00" for row in waits]
        for key, name in (("wait_p50_s", "median"), ("wait_p90_s", "p90"), ("wait_p95_s", "p95")):
            _category_bars(figure, labels, waits, key, name)
        figure.update_layout(barmode="group")
        _counts_from_zero(figure, waits, ("wait_p50_s", "wait_p90_s", "wait_p95_s"))
        _note_if_all_hidden(figure, waits, "wait_p50_s", k)
        out["queue_waits"] = _layout(figure, "Queue waits by hour of day", "seconds", f"queue, hour ({where})")
    segments = tables.get("segments", [])
    if segments:
        figure = go.Figure()
        _category_bars(figure, [row["segment"] for row in segments], segments, "share_pct", "share of tracks")
        figure.update_traces(
            text=[str(row["share_pct"]) if _is_hidden(row["share_pct"]) else f"{row['share_pct']:g} %"
                  for row in segments]
        )  # fmt: skip
        _counts_from_zero(figure, segments, ("share_pct",))
        _note_if_all_hidden(figure, segments, "share_pct", k)
        out["segments"] = _layout(figure, "Customer segments by time in view", "share of tracks (%)", "segment")
    return out


def _sankey(transitions: list[dict], min_visitors: int) -> go.Figure:
    counted = [row for row in transitions if isinstance(row["moves"], int)]
    labels = sorted({row["from"] for row in counted} | {row["to"] for row in counted})
    figure = go.Figure(
        go.Sankey(
            node={"label": [f"{name} (from)" for name in labels] + [f"{name} (to)" for name in labels]},
            link={
                "source": [labels.index(row["from"]) for row in counted],
                "target": [labels.index(row["to"]) + len(labels) for row in counted],
                "value": [row["moves"] for row in counted],
            },
        )
    )
    hidden = len(transitions) - len(counted)
    if hidden:
        figure.add_annotation(
            text=f"{hidden} move(s) resting on fewer than {min_visitors} people are left out (&lt;{min_visitors})",
            xref="paper", yref="paper", x=0.5, y=-0.12, showarrow=False, font={"color": "#555"},
        )  # fmt: skip
    return _layout(figure, "Zone-to-zone flow")


def comparison_chart(comparison: list[dict]) -> go.Figure:
    changed = [row for row in comparison if row["change_pct"] is not None][:15]
    figure = go.Figure(
        go.Bar(
            x=[row["change_pct"] for row in changed], y=[row["figure"] for row in changed], orientation="h",
            marker_color=[_HOT if row["change_pct"] > 0 else _COLD for row in changed],
            text=[f"{row['change_pct']:+g} %" for row in changed], textposition="outside", cliponaxis=False,
        )
    )  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    height = max(300, 40 + 28 * len(changed))
    return _layout(figure, "Largest changes, after against before", "", "change (%)", height=height)


def heatmap_figure(report: Report) -> go.Figure | str | None:
    """The floor heatmap over the plan (None without a grid; a sentence when it is suppressed)."""
    heatmap, grid = report.main.heatmap, report.grid
    if heatmap is None or grid is None:
        return None
    if report.main.heatmap_tracks < report.options.min_visitors:
        return f"Heatmap hidden: fewer than {report.options.min_visitors} tracks in this period."
    empty = not heatmap.max() > 0
    cell = float(grid["cell_m"])
    xs = float(grid["x0_m"]) + cell * (np.arange(heatmap.shape[1]) + 0.5)
    ys = float(grid["y0_m"]) + cell * (np.arange(heatmap.shape[0]) + 0.5)
    values = np.full(heatmap.shape, np.nan) if empty else np.where(heatmap > heatmap.max() * 1e-3, heatmap, np.nan)
    figure = go.Figure(
        go.Heatmap(
            x=xs, y=ys, z=values, colorscale=plotly_colorscale(), zmin=0, showscale=not empty,
            colorbar={"title": {"text": "person-seconds<br>per cell", "side": "right"}},
            hovertemplate="x %{x:.1f} m, y %{y:.1f} m: %{z:.1f} s<extra></extra>",
        )
    )  # fmt: skip
    for outline in _zone_outlines(report):
        figure.add_scatter(**outline)
    figure.update_yaxes(scaleanchor="x", scaleratio=1, autorange="reversed")  # plan rows run down the page
    if report.floor_plan is not None:
        _draw_plan_below(figure, report.floor_plan)
    if empty:  # the plan and the zones still show, with why there is no heat on them
        figure.add_annotation(
            text="Nobody's position fell on the floor grid in this period", xref="paper", yref="paper", x=0.5,
            y=0.5, showarrow=False, font={"size": 14, "color": "#555"}, bgcolor="rgba(255,255,255,0.8)",
        )  # fmt: skip
    title = f"Dwell heatmap, {report.site or 'site'}, smoothed {report.options.smooth_m:g} m"
    figure.update_xaxes(constrain="domain")  # keep metres square by narrowing the plot, not widening the floor
    return _layout(figure, title, "y (m)", "x (m)", height=640)


def _draw_plan_below(figure: go.Figure, plan: dict) -> None:
    """The floor-plan picture under the heatmap, placed in floor metres (its top-left corner at `origin`), as the
    site config maps it; embedded as a PNG."""
    image = cv2.imread(plan["image"], cv2.IMREAD_COLOR)
    if image is None:
        return
    height, width = image.shape[:2]
    scale = min(1.0, PLAN_MAX_SIDE / max(width, height))
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
                "line": {"color": "#2c7fb8", "width": 2}, "showlegend": False, "hoverinfo": "skip",
                "text": [zone["name"]] + [""] * (len(points) - 1), "textposition": "top right",
                "textfont": {"color": "#08306b", "size": 13},
            }
        )  # fmt: skip
    return outlines
