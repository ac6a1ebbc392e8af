"""Capture-to-disk latency, CPU per camera and memory of `footfall serve` with N cameras from a local RTSP server.

    python scripts/bench_serve.py [--cameras 2] [--minutes 60] [--fps 5] [--model ../shared/models/yolov8n_int8.tflite]
                                  [--decoder both|process|thread]

A real RTSP server (GStreamer, tests/rtsp_server.py, run by the system Python) serves the PETS clip in a loop
as N cameras on 127.0.0.1 (768x576, 7 fps, H.264); `footfall serve` analyses each at --fps with the PETS
calibration, zones and line. Printed, with the CPU model:

- latency of the live event feed: for every event line, the time it was readable on disk minus the capture time
  of the frame that decided it (the stream's RTCP sender-report time, i.e. the server's clock: the same machine
  here), as p50 / p95 / max over each 5-minute window and overall;
- CPU: the share of one core per camera of the service process and its decoder processes (the RTSP server, which
  encodes, is measured apart);
- the shared detector's busy share (from /metrics): how many more cameras the detector allows at this rate;
- frames dropped as stale, reconnects, and memory at 5 minutes and at the end: the service's resident memory and
  the proportional share (PSS) of its decoder processes.

`--decoder both` (the default) measures `serve --decoder thread` (streams decoded inside the service: the figures
before decoder isolation) and then `--decoder process` (a decoder process per camera) in one run, --minutes each,
and prints the two side by side.

The events are polled every 50 ms, so latencies carry up to 50 ms of measurement delay.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from tests.helpers import pets_calibration_document  # noqa: E402
from tests.rtsp import RtspServer, free_port  # noqa: E402
from tests.test_site_e2e import SITE_YAML  # noqa: E402
from vision.core.cpus import available_cpus, cpu_description  # noqa: E402

PETS_VIDEO = SHARED / "data" / "pets09-s2l1" / "pets09-s2l1_0001-0400.mp4"


def site_yaml(urls: list[str], fps: float) -> str:
    text = SITE_YAML.format(video=urls[0]).replace("    start: 2009-03-12T10:00:00+00:00\n", "")
    text = text.replace("analysis_fps: 7", f"analysis_fps: {fps:g}")
    extra = "".join(
        f"  - id: view{index + 1:03d}\n    source: {url}\n    calibration: view001.json\n    analysis_fps: {fps:g}\n"
        for index, url in enumerate(urls[1:], start=1)
    )
    return text.replace("zones:\n", extra + "zones:\n", 1)


def percentiles(values: list[float]) -> str:
    if not values:
        return "no events"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s ({len(ordered)} events)"


class FeedReader:
    """Reads new lines of every live/ feed file as they appear."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.offsets: dict[Path, int] = {}

    def poll(self) -> list[dict]:
        events = []
        for path in (self.out / "live").rglob("events-*.jsonl"):
            offset = self.offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            complete = data.rfind(b"\n") + 1
            self.offsets[path] = offset + complete
            events += [json.loads(line) for line in data[:complete].splitlines() if line]
        return events


def metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def family_cpu_s(process: psutil.Process) -> float:
    """CPU seconds of a process and its children now alive (the decoder processes), user and system."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def family_memory_mb(process: psutil.Process) -> tuple[float, float]:
    """(RSS of the process, PSS of its children): a child's shared libraries are counted once across the family."""
    rss = process.memory_info().rss / 2**20
    children = 0.0
    for child in process.children(recursive=True):
        try:
            children += child.memory_full_info().pss / 2**20
        except psutil.Error:
            continue
    return rss, children


def measure(args: argparse.Namespace, isolation: str) -> dict:
    """One run of `footfall serve --decoder ISOLATION` for --minutes; prints its figures and returns them."""
    print(f"\n== --decoder {isolation}", flush=True)
    mounts = {f"cam{index + 1}": PETS_VIDEO for index in range(args.cameras)}
    with tempfile.TemporaryDirectory(prefix="footfall-serve-bench-") as folder, RtspServer(mounts) as server:
        work = Path(folder)
        (work / "view001.json").write_text(json.dumps(pets_calibration_document()))
        (work / "site.yaml").write_text(site_yaml([server.url(mount) for mount in mounts], args.fps))
        out, port = work / "out", free_port()
        health = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "vision", "serve", str(work / "site.yaml"), "--out", str(out), "--model",
                   args.model, "--health", f"127.0.0.1:{port}", "--decoder", isolation]  # fmt: skip
        service = subprocess.Popen(command, stderr=open(work / "serve.log", "w"))  # noqa: SIM115
        process = psutil.Process(service.pid)
        rtsp = psutil.Process(server.process.pid) if getattr(server, "process", None) else None
        feed = FeedReader(out)
        started = time.monotonic()
        windows: list[list[float]] = [[]]
        window_started = started
        memory_5min: tuple[float, float] | None = None
        cpu_started = family_cpu_s(process)
        rtsp_cpu_started = rtsp.cpu_times() if rtsp else None
        busy_started: float | None = None
        measured_from = started
        try:
            while time.monotonic() - started < args.minutes * 60:
                if service.poll() is not None:
                    sys.exit(
                        f"footfall serve exited ({service.returncode}): {(work / 'serve.log').read_text()[-2000:]}"
                    )
                now = time.time()
                for event in feed.poll():
                    decided = datetime.fromisoformat(event["decided_at"].replace("Z", "+00:00")).timestamp()
                    windows[-1].append(now - decided)
                if busy_started is None and time.monotonic() - started > 20:  # after the model loaded and connected
                    try:
                        busy_started = metrics(health)["footfall_detector_busy_seconds_total"]
                        measured_from = time.monotonic()
                        cpu_started = family_cpu_s(process)
                        rtsp_cpu_started = rtsp.cpu_times() if rtsp else None
                        windows = [[]]  # latencies from the same span as the CPU figures
                        window_started = measured_from
                    except OSError:
                        pass
                if memory_5min is None and time.monotonic() - started >= 300:
                    memory_5min = family_memory_mb(process)
                if time.monotonic() - window_started >= 300:
                    minutes = len(windows) * 5
                    rss, children = family_memory_mb(process)
                    latency = percentiles(windows[-1])
                    print(f"  minutes {minutes - 5:>3}-{minutes:<3} latency {latency}; RSS {rss:.0f} MB + decoders "
                          f"{children:.0f} MB", flush=True)  # fmt: skip
                    windows.append([])
                    window_started = time.monotonic()
                time.sleep(0.05)
            elapsed = time.monotonic() - measured_from
            final = metrics(health)
            cpu_used = family_cpu_s(process) - cpu_started
            memory_end = family_memory_mb(process)
            health_document = json.loads(urllib.request.urlopen(f"{health}/health", timeout=5).read())
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.kill()
        latencies = sorted(v for w in windows for v in w)
        service_cpu = cpu_used / elapsed
        print(f"latency, event on disk after the capture of the frame that decided it: {percentiles(latencies)}")
        print(f"CPU: footfall serve with its decoders {service_cpu * 100:.0f} % of one core = "
              f"{service_cpu * 100 / args.cameras:.1f} % per camera", end="")  # fmt: skip
        if rtsp is not None and rtsp_cpu_started is not None:
            rtsp_cpu = rtsp.cpu_times()
            used = rtsp_cpu.user + rtsp_cpu.system - rtsp_cpu_started.user - rtsp_cpu_started.system
            print(f"; the RTSP server (encoding {args.cameras} streams) {used / elapsed * 100:.0f} %", end="")
        print()
        if busy_started is not None:
            busy = (final["footfall_detector_busy_seconds_total"] - busy_started) / elapsed
            print(f"detector busy {busy * 100:.0f} % of the time: at this rate it allows about "
                  f"{args.cameras / busy if busy else float('inf'):.0f} cameras")  # fmt: skip
        for camera, row in health_document["cameras"].items():
            print(f"  {camera}: {row['frames_analysed']} frames analysed, {row['frames_dropped']} dropped as stale, "
                  f"{row['reconnects']} reconnects, {row['live_events']} live events")  # fmt: skip
        at_5 = f"{memory_5min[0]:.0f} + {memory_5min[1]:.0f} MB" if memory_5min else "n/a (shorter run)"
        print(f"memory, RSS of footfall serve + PSS of its decoder processes: at 5 minutes {at_5}, at the end "
              f"({args.minutes:g} minutes) {memory_end[0]:.0f} + {memory_end[1]:.0f} MB")  # fmt: skip
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
        return {
            "cpu_per_camera": service_cpu * 100 / args.cameras,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": p95,
            "memory": memory_end,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=60.0, help="per decoder setting")
    parser.add_argument("--fps", type=float, default=5.0, help="analysed frames per second per camera")
    parser.add_argument("--model", default=str(SHARED / "models" / "yolov8n_int8.tflite"))
    parser.add_argument(
        "--decoder", choices=("process", "thread", "both"), default="both",
        help="serve's --decoder; both: thread (before isolation) then process (after), one after the other",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; {available_cpus()} CPUs for this process")
    print(f"{args.cameras} cameras x {args.fps:g} analysed frames/s, {args.minutes:g} minutes each, model {args.model}")
    settings = ("thread", "process") if args.decoder == "both" else (args.decoder,)
    results = {isolation: measure(args, isolation) for isolation in settings}
    if len(results) == 2:
        print("\n| decoder | CPU per camera | latency p50 | latency p95 | memory (serve + decoders) |")
        print("|---|---|---|---|---|")
        for isolation, row in results.items():
            rss, children = row["memory"]
            print(f"| {isolation} | {row['cpu_per_camera']:.1f} % | {row['p50']:.2f} s | {row['p95']:.2f} s | "
                  f"{rss:.0f} + {children:.0f} MB |")  # fmt: skip


if __name__ == "__main__":
    main()
