"""`footfall dashboard` as a real process on 127.0.0.1: its API against `footfall report` on the same periods, its
safety (Host header, read-only, nothing from the network), part files coming and going under it, and its page in
a real browser (Debian's Chromium driven by Playwright): the period, the comparison, and the "now" panel while a
real `footfall serve` writes into the record from a real RTSP server. Every wait is bounded."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.helpers import REPO
from tests.rtsp import RtspServer
from tests.test_report import shop  # noqa: F401  # the fixture: two synthetic output folders, 27-30 March 2026
from tests.test_serve import Serve, site_file, wait_for

pytest_plugins = ("tests.rtsp",)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-artifacts"
DAY_A, DAY_B = "2026-03-28", "2026-03-30"


class DashboardProcess:
    """`footfall dashboard` in a child process on a free port (read from its first line)."""

    def __init__(self, *folders: Path, min_visitors: int = 1) -> None:
        command = [sys.executable, "-m", "vision", "dashboard", *map(str, folders), "--bind", "127.0.0.1:0",
                   "--min-visitors", str(min_visitors)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        if not found or " at http://" not in found[0]:
            self.process.kill()
            raise AssertionError(f"the dashboard did not start: {found} {self.process.stderr.read()}")
        self.url = found[0].split(" at ", 1)[1].split()[0]
        self.host = self.url.removeprefix("http://").rstrip("/")

    def request(self, path: str, method: str = "GET", host: str | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.url.rstrip("/") + path, method=method)
        request.add_header("Host", host or self.host)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, path: str) -> dict:
        status, _, body = self.request(path)
        assert status == 200, body
        return json.loads(body)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def dashboards() -> Iterator[Callable[..., DashboardProcess]]:
    started: list[DashboardProcess] = []

    def start(*folders: Path, min_visitors: int = 1) -> DashboardProcess:
        started.append(DashboardProcess(*folders, min_visitors=min_visitors))
        return started[-1]

    yield start
    for dashboard in started:
        dashboard.stop()


def report_csvs(tmp_path: Path, *args: str | Path) -> dict[str, str]:
    """`footfall report` run as a user would, its CSV files by table name."""
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}"
    result = subprocess.run([sys.executable, "-m", "vision", "report", *map(str, args), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {path.stem: path.read_text() for path in out.glob("*.csv")}


def view_query(first: str, last: str, compare: tuple[str, str] | None = None) -> str:
    query = f"period=custom&from={first}&to={last}&bucket=hour"
    return query + (f"&compare_from={compare[0]}&compare_to={compare[1]}" if compare else "")


def test_the_dashboard_gives_the_reports_figures_for_the_same_period(shop, dashboards, tmp_path):  # noqa: F811
    a, b = shop
    dashboard = dashboards(a, b)
    for first, last in ((DAY_A, DAY_A), (DAY_B, DAY_B), ("2026-03-27", "2026-03-30")):
        expected = report_csvs(tmp_path, a, b, "--from", first, "--to", last, "--min-visitors", "1")
        view = dashboard.json(f"/api/view?{view_query(first, last)}")
        assert set(view["tables"]) == set(expected) and len(expected) >= 10
        for table, text in expected.items():
            status, headers, body = dashboard.request(f"/api/csv/{table}?{view_query(first, last)}")
            assert status == 200 and headers["Content-Type"].startswith("text/csv")
            assert body.decode() == text, f"{table} differs from the report's for {first} to {last}"
    before_after = report_csvs(
        tmp_path, a, b, "--from", DAY_B, "--to", DAY_B, "--compare-from", DAY_A, "--compare-to", DAY_A,
        "--min-visitors", "1",
    )  # fmt: skip
    status, _, body = dashboard.request(f"/api/csv/comparison?{view_query(DAY_B, DAY_B, (DAY_A, DAY_A))}")
    assert status == 200 and body.decode() == before_after["comparison"]
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert any(row["change"] not in ("", "0", "0.0") for row in rows), "the two days differ (camera b: the 28th)"


def test_k_suppression_applies_as_in_the_report(shop, dashboards, tmp_path):  # noqa: F811
    a, b = shop
    dashboard = dashboards(a, b, min_visitors=5)
    expected = report_csvs(tmp_path, a, b, "--from", DAY_B, "--to", DAY_B)
    for table in ("zones", "segments", "lines_by_bucket", "people_in_view", "queue_waits"):
        status, _, body = dashboard.request(f"/api/csv/{table}?{view_query(DAY_B, DAY_B)}")
        assert status == 200 and body.decode() == expected[table]
    assert "<5" in expected["segments"] + expected["queue_waits"], "the day has figures under 5 people"


def test_read_only_local_and_self_contained(shop, dashboards):  # noqa: F811
    a, _ = shop
    dashboard = dashboards(a)
    status, headers, _ = dashboard.request("/")
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
    for path in ("/", "/app.js", "/style.css"):
        _, _, body = dashboard.request(path)
        assert b"http://" not in body and b"https://" not in body, f"{path} refers to the network"
    status, headers, plotly = dashboard.request("/plotly.js")
    assert status == 200 and len(plotly) > 1_000_000, "Plotly comes from the installed package"
    assert dashboard.request("/api/choices", host="evil.example:80")[0] == 403, "DNS rebinding: Host is checked"
    for method in ("POST", "PUT", "DELETE"):
        assert dashboard.request("/api/view", method=method)[0] == 405
    status, _, body = dashboard.request("/api/csv/nothing?period=all")
    assert status == 400 and "no table 'nothing'" in json.loads(body)["error"]
    status, _, body = dashboard.request("/api/view?period=custom&from=2026-03-30&to=2026-03-27")
    assert status == 400 and "before it starts" in json.loads(body)["error"]
    status, _, body = dashboard.request("/api/view?period=custom&from=2027-01-01&to=2027-01-02")
    assert status == 400 and "the data covers 2026-03-27" in json.loads(body)["error"]


def test_it_keeps_answering_while_part_files_come_and_go(shop, dashboards, tmp_path):  # noqa: F811
    """A copy of a record, one of its days' part files removed and put back over and over (a service's writer
    and a tidy-up at work) while the page asks: every answer is whole, and is the figures with or without that day."""
    a, _ = shop
    record = tmp_path / "record"
    shutil.copytree(a, record)
    dashboard = dashboards(record)
    first = dashboard.json("/api/view?period=all&bucket=day")["tables"]
    whole, visits = first["cameras"], sum(int(row["visits"]) for row in first["zones"])
    day = next((record / "visits").glob("camera=a/date=2026-03-29"))
    day_visits = pq.read_table(day).num_rows
    aside = tmp_path / "aside"
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            shutil.move(str(day), str(aside))
            time.sleep(0.05)
            shutil.move(str(aside), str(day))
            time.sleep(0.05)

    mover = threading.Thread(target=churn, daemon=True)
    mover.start()
    try:
        seen = set()
        for _ in range(30):
            status, _, body = dashboard.request("/api/view?period=all&bucket=day")
            assert status == 200, body
            view = json.loads(body)
            assert view["tables"]["cameras"] == whole, "the tracks did not move"
            seen.add(sum(int(row["visits"]) for row in view["tables"]["zones"]))
    finally:
        stop.set()
        mover.join(5)
    assert seen <= {visits, visits - day_visits} and day_visits > 0, seen


# ---- in a real browser -------------------------------------------------------------------------------------------


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
            page.on(
                "console",
                lambda message: page.errors.append(message.text) if message.type == "error" else None,  # type: ignore[attr-defined]
            )
            yield page
        finally:
            browser.close()


def shown_table(page: Page, table: str) -> list[list[str]]:
    return page.eval_on_selector(
        f"table[data-table='{table}']",
        "t => [...t.rows].map(r => [...r.cells].map(c => c.textContent))",
    )


def csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text))]


def wait_for_view(page: Page, *parts: str) -> None:
    page.wait_for_function(
        "parts => document.body.dataset.state === 'ready' && parts.every(p => (document.body.dataset.view || '')"
        ".includes(p))",
        arg=list(parts),
        timeout=60_000,
    )


def test_in_a_browser_the_period_and_the_comparison_change_the_figures_to_the_reports(
    shop,  # noqa: F811
    dashboards,
    page,
    tmp_path,
):
    a, b = shop
    dashboard = dashboards(a, b)
    page.goto(dashboard.url)
    wait_for_view(page, "period=all")
    expect(page.locator("#meta")).to_contain_text("all data")
    assert page.input_value("#bucket") == "day", "a record of several days opens by the day"
    page.select_option("#bucket", "hour")
    wait_for_view(page, "bucket=hour")
    page.select_option("#period", "custom")
    for first in (DAY_A, DAY_B):
        page.fill("#from", first)
        page.fill("#to", first)
        page.dispatch_event("#to", "change")
        wait_for_view(page, f"from={first}", f"to={first}")
        expected = report_csvs(tmp_path, a, b, "--from", first, "--to", first, "--min-visitors", "1")
        for table in ("zones", "lines_by_bucket", "people_in_view", "segments", "cameras"):
            assert shown_table(page, table) == csv_rows(expected[table]), f"{table} on {first}"
        page.wait_for_function("() => document.body.dataset.charts === 'drawn'", timeout=60_000)
        assert page.locator("[data-chart='people_in_view'] .main-svg").count() > 0
    page.check("#compare")
    page.fill("#compare-from", DAY_A)
    page.fill("#compare-to", DAY_A)
    page.dispatch_event("#compare-to", "change")
    wait_for_view(page, f"compare_from={DAY_A}", f"compare_to={DAY_A}")
    expected = report_csvs(
        tmp_path, a, b, "--from", DAY_B, "--to", DAY_B, "--compare-from", DAY_A, "--compare-to", DAY_A,
        "--min-visitors", "1",
    )  # fmt: skip
    expect(page.locator("#panel-comparison h2")).to_contain_text(f"Before ({DAY_A}) and after ({DAY_B})")
    assert shown_table(page, "comparison") == csv_rows(expected["comparison"])
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-compare.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


def test_in_a_browser_the_now_panel_moves_while_a_live_service_writes(
    rtsp_server: RtspServer, dashboards, page, tmp_path
):
    out = tmp_path / "out"
    site = site_file(tmp_path, {"cam1": rtsp_server.url("cam1")})
    serve = Serve(site, out)
    try:
        serve.wait_connected("cam1")
        wait_for(lambda: (out / "run.json").is_file() and (out / "tracks").is_dir(), 60, "the first flush")
        dashboard = dashboards(out)
        page.goto(dashboard.url)
        expect(page.locator("#now")).to_be_visible(timeout=30_000)
        expect(page.locator("#now")).to_have_attribute("data-live", "true", timeout=30_000)
        expect(page.locator("#now-cameras")).to_contain_text("connected")
        seen_people, seen_times = set(), set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (len(seen_people) < 2 or len(seen_times) < 3):
            seen_people.add(page.locator("#now-people").text_content())
            seen_times.add(page.locator("#now-at").text_content())
            time.sleep(0.5)
        assert len(seen_people) >= 2 and len(seen_times) >= 3, (seen_people, seen_times, serve.log_text()[-2000:])
        assert all(int(people) >= 0 for people in seen_people)
        expect(page.locator("#now-events")).to_contain_text("cam1", timeout=60_000)
        for _ in range(5):  # the figures keep answering while the service flushes and writes part files
            status, _, body = dashboard.request("/api/view?period=all")
            assert status == 200, body
            time.sleep(1)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dashboard-now.png"), full_page=True)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        serve.terminate()


def _agrees_with_the_report(dashboard, record: Path) -> None:
    """The dashboard's tables for all data by the day are the report's, on the files as they are now."""
    from vision.report.build import ReportOptions, build_report, suppressed_tables
    from vision.report.dashboard import ViewRequest
    from vision.report.inputs import open_run_folders
    from vision.report.write import shown_rows

    view = dashboard.view(ViewRequest(period="all", bucket="day"))
    direct = suppressed_tables(build_report(open_run_folders([record]), ReportOptions(bucket="day", min_visitors=1)))
    assert view["tables"] == {name: shown_rows(rows) for name, rows in direct.items()}


def test_finished_days_are_read_once_and_a_changed_day_again(shop, tmp_path):  # noqa: F811
    """The record cache reads each partition once; a day whose files change is read again (alone), a day that goes
    is dropped, and the figures follow: always those of `footfall report` on the files as they are."""
    from vision.report.dashboard import Dashboard, ViewRequest

    a, _ = shop
    record = tmp_path / "record"
    shutil.copytree(a, record)
    dashboard = Dashboard([record], min_visitors=1)

    _agrees_with_the_report(dashboard, record)
    partitions = len(list(record.glob("*/camera=*/date=*")))
    assert dashboard.cache.reads == partitions
    dashboard.view(ViewRequest(period="all", bucket="hour"))
    assert dashboard.cache.reads == partitions, "nothing changed: nothing read again"
    day = next((record / "visits").glob("camera=a/date=2026-03-30"))
    part = next(day.glob("*.parquet"))
    shutil.copy(part, day / "part-copy.parquet")  # a second part file lands in one day
    _agrees_with_the_report(dashboard, record)
    assert dashboard.cache.reads == partitions + 1, "only the changed day is read again"
    shutil.rmtree(day)
    _agrees_with_the_report(dashboard, record)
    assert dashboard.cache.reads == partitions + 1, "a day that went is dropped, not read"


def test_settled_days_are_not_listed_again_and_a_renamed_part_is_still_seen(shop, tmp_path, monkeypatch):  # noqa: F811
    """A day folder unchanged since it settled is taken as it was, without listing its files; a part file renamed
    into it (as footfall writes) or removed from it changes the folder, and the day is read again."""
    import vision.report.record_cache as record_cache
    from vision.report.dashboard import Dashboard, ViewRequest

    a, _ = shop
    record = tmp_path / "record"
    shutil.copytree(a, record)
    an_hour_ago = time.time() - 3600
    for day in record.glob("*/camera=*/date=*"):
        os.utime(day, (an_hour_ago, an_hour_ago))
    dashboard = Dashboard([record], min_visitors=1)
    listed: list[str] = []  # the folders the record cache lists (its own calls only)
    spy = types.SimpleNamespace(scandir=lambda path: listed.append(str(path)) or os.scandir(path), path=os.path)
    monkeypatch.setattr(record_cache, "os", spy)

    _agrees_with_the_report(dashboard, record)
    partitions = len(list(record.glob("*/camera=*/date=*")))
    assert dashboard.cache.reads == partitions
    assert any("date=" in path for path in listed)
    listed.clear()
    dashboard.view(ViewRequest(period="all", bucket="hour"))
    assert listed and not [path for path in listed if "date=" in path], "settled days are not listed again"

    day = next((record / "visits").glob("camera=a/date=2026-03-30"))
    part = next(day.glob("*.parquet"))
    shutil.copy(part, day / ".part-new.parquet.tmp")
    os.replace(day / ".part-new.parquet.tmp", day / "part-new.parquet")
    _agrees_with_the_report(dashboard, record)
    assert dashboard.cache.reads == partitions + 1, "the day a part was renamed into is read again"
    (day / "part-new.parquet").unlink()
    _agrees_with_the_report(dashboard, record)
    assert dashboard.cache.reads == partitions + 2, "the day a part went from is read again"


def test_bad_input_is_one_clear_line(shop, tmp_path):  # noqa: F811
    from tests.test_bad_input import assert_one_clear_line

    a, _ = shop

    def dashboard(*args: str | Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "vision", "dashboard", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert_one_clear_line(dashboard(tmp_path / "nothing"), "no such folder")
    assert_one_clear_line(dashboard(a, "--bind", "nonsense"), "--bind 'nonsense' is not HOST:PORT")
    assert_one_clear_line(dashboard(a, "--min-visitors", "0"), "--min-visitors must be at least 1")
    taken = DashboardProcess(a)
    try:
        assert_one_clear_line(dashboard(a, "--bind", taken.host), "cannot listen on", "give another --bind")
    finally:
        taken.stop()


def test_zones_picked_on_the_page_are_the_reports_zones_option(shop, dashboards, tmp_path):  # noqa: F811
    a, b = shop
    dashboard = dashboards(a, b)
    expected = report_csvs(tmp_path, a, b, "--from", DAY_A, "--to", DAY_A, "--zones", "till", "--min-visitors", "1")
    assert [row[0] for row in csv_rows(expected["zones"])] == ["zone", "till"]
    for table in ("zones", "people_per_zone", "top_paths", "transitions", "funnels", "queue_waits"):
        status, _, body = dashboard.request(f"/api/csv/{table}?{view_query(DAY_A, DAY_A)}&zones=till")
        assert status == 200 and body.decode() == expected[table], table
    status, _, body = dashboard.request(f"/api/view?{view_query(DAY_A, DAY_A)}&zones=nowhere")
    assert status == 400 and "no zone 'nowhere'" in json.loads(body)["error"]


def test_names_given_with_allow_host_are_answered_and_no_others(shop):  # noqa: F811
    a, _ = shop
    command = [sys.executable, "-m", "vision", "dashboard", str(a), "--bind", "127.0.0.1:0",
               "--allow-host", "footfall.shop.lan"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split(" at ", 1)[1].split()[0]
        port = url.rstrip("/").rsplit(":", 1)[1]

        def status(host: str) -> int:
            request = urllib.request.Request(url + "api/choices", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert status(f"footfall.shop.lan:{port}") == 200
        assert status(f"localhost:{port}") == 200
        assert status(f"evil.example:{port}") == 403
        assert status("footfall.shop.lan:1") == 403, "the port is part of the name"
    finally:
        process.terminate()
        process.wait(10)


def test_on_all_interfaces_it_answers_to_this_machines_name_and_warns(shop):  # noqa: F811
    import socket

    a, _ = shop
    command = [sys.executable, "-m", "vision", "dashboard", str(a), "--bind", "0.0.0.0:0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split(" at ", 1)[1].split()[0]
        port = url.rstrip("/").rsplit(":", 1)[1]
        request = urllib.request.Request(url + "api/choices", headers={"Host": f"{socket.gethostname()}:{port}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert "anyone who can reach this machine there can read the figures" in errors
