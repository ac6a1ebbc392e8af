"""Times `footfall dashboard` on the large synthetic record of `scripts/bench_report.py` (10 million track rows, 90
days, 20 cameras by default) and prints, with the CPU and a same-run baseline (`footfall report` on the whole set,
and one DuckDB scan of the tracks):

- the first answer (the record read into memory), then each view: a new question (its figures computed from the
  record in memory) and the same question again (the answer kept);
- the page in headless Chromium on 127.0.0.1: first paint, and the figures drawn;
- the dashboard's peak memory.

    python scripts/bench_dashboard.py [--folder /tmp/footfall-big] [--cameras 20] [--days 90]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import add_set_arguments, prepare_set, scan_seconds

CHROMIUM = "/usr/bin/chromium"


def start_dashboard(folder: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "vision", "dashboard", str(folder), "--bind", "127.0.0.1:0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if " at http://" not in line:
        raise SystemExit(f"the dashboard did not start: {line}{process.stderr.read()}")
    return process, line.split(" at ", 1)[1].split()[0]


def ask(url: str, path: str) -> tuple[float, dict]:
    """Seconds to the whole answer, and the answer (an error's too: a period without data is one)."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=600) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as error:
        document = json.loads(error.read())
    return time.perf_counter() - started, document


def views(last: date, cameras: list[str]) -> list[tuple[str, str]]:
    def days(first: date, end: date) -> str:
        return f"period=custom&from={first}&to={end}"

    week = days(last - timedelta(days=6), last)
    return [
        ("last day, hour buckets", f"{days(last, last)}&bucket=hour"),
        ("the day before", f"{days(last - timedelta(days=1), last - timedelta(days=1))}&bucket=hour"),
        ("last 7 days, day buckets", f"{week}&bucket=day"),
        ("last 31 days, day buckets", f"{days(last - timedelta(days=30), last)}&bucket=day"),
        ("all data, week buckets", "period=all&bucket=week"),
        ("all 90 days as a custom period", f"{days(last - timedelta(days=89), last)}&bucket=day"),
        ("all data, hour buckets", "period=all&bucket=hour"),
        ("all data, one zone", "period=all&bucket=day&zones=till"),
        (
            "last 45 days against the 45 before",
            f"{days(last - timedelta(days=44), last)}&bucket=day"
            f"&compare_from={last - timedelta(days=89)}&compare_to={last - timedelta(days=45)}",
        ),
        ("last 7 days, 5 cameras", f"{week}&bucket=day&cameras={','.join(cameras[:5])}"),
        ("last 7 days, one zone", f"{week}&bucket=day&zones=till"),
        (
            "last 7 days against the 7 before",
            f"{week}&bucket=day&compare_from={last - timedelta(days=13)}&compare_to={last - timedelta(days=7)}",
        ),
    ]


def page_timings(url: str) -> tuple[float, float, float]:
    """(first contentful paint, the view's headline and tables shown, every chart drawn) in seconds from
    navigation, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=600_000)
            shown = page.evaluate("() => performance.now()") / 1000
            page.wait_for_function("() => document.body.dataset.charts === 'drawn'", timeout=600_000)
            drawn = page.evaluate("() => performance.now()") / 1000
            paint = page.evaluate(
                "() => performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint').startTime"
            )
            return paint / 1000, shown, drawn
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_arguments(parser)
    args = parser.parse_args()
    prepare_set(args)

    report_dir = args.folder.parent / f"{args.folder.name}-dashboard-baseline"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vision", "report", str(args.folder), "--out", str(report_dir),
                    "--overwrite", "--bucket", "day"], check=True, capture_output=True)  # fmt: skip
    report_s = time.perf_counter() - started
    print(f"baseline, same run: `footfall report` on the whole set {report_s:.1f} s; "
          f"one DuckDB scan of the tracks {scan_seconds(args.folder):.1f} s")  # fmt: skip

    process, url = start_dashboard(args.folder)
    peak = [0.0]
    stop = threading.Event()

    def sample_memory() -> None:
        watched = psutil.Process(process.pid)
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], watched.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(0.2)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    try:
        first_s, choices = ask(url, "/api/choices")
        default_s, _ = ask(url, f"/api/view?period={choices['default_period']}&bucket={choices['default_bucket']}")
        print(f"first answer (the record read into memory): {first_s:.1f} s; the page's first view {default_s:.1f} s "
              "more (computed in the background from the start)")  # fmt: skip
        time.sleep(15)  # the presets are worked out in the background meanwhile
        for preset in ("all", "today", "last-7-days", "this-month"):
            preset_s, answer = ask(url, f"/api/view?period={preset}&bucket={choices['default_bucket']}")
            print(f"preset {preset}: {preset_s:.2f} s{' (no data in it)' if 'error' in answer else ''}")
        last = date.fromisoformat(choices["last_day"])
        print(f"{'view':40} {'new question':>13} {'asked again':>12}")
        worst = 0.0
        for name, query in views(last, choices["cameras"]):
            new_s, _ = ask(url, f"/api/view?{query}")
            again_s, _ = ask(url, f"/api/view?{query}")
            worst = max(worst, new_s)
            print(f"{name:40} {new_s:>11.2f} s {again_s:>10.2f} s")
        print(f"slowest new question: {worst:.2f} s ({report_s / worst:.1f}x faster than the report baseline)")
        paint_s, shown_s, drawn_s = page_timings(url)
        print(f"page on 127.0.0.1 (default view): first paint {paint_s:.2f} s, figures (headline and tables) shown "
              f"{shown_s:.2f} s, every chart drawn {drawn_s:.2f} s")  # fmt: skip
        print(f"dashboard peak memory: {peak[0]:.0f} MB (RSS, sampled)")
    finally:
        stop.set()
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
