"""The calibration page in a real browser (Debian's Chromium driven by Playwright) against the real
`footfall calibrate` process: point pairs clicked from PETS ground truth, a bad pair spotted and deleted, a zone
and a counting line drawn, and everything saved."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from calibration.session import points_csv_path
from calibration.solve import read_point_pairs_csv
from tests.helpers import PETS_SIZE, PETS_VIDEO, REPO, ground_truth_feet, pets_ground_truth
from tests.test_calibration_server import ORIGIN, PLAN_SIZE, SCALE, SITE_YAML, spread_pairs, write_plan
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.config.site import load_site_config

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "test-artifacts" / "calibration.png"
README_SCREENSHOT = REPO / "test-artifacts" / "calibration-readme.png"  # docs/calibration.png is a copy
README_SCREENSHOT_MAX_BYTES = 300_000


@pytest.fixture
def calibrate_process(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    plan = write_plan(tmp_path / "plan.png")
    site = tmp_path / "site.yaml"
    site.write_text(SITE_YAML.format(video=PETS_VIDEO), encoding="utf-8")
    out = tmp_path / "calib" / "view001.json"
    # Paths relative to the working folder, as a user would type them (they show on the page and its screenshot).
    command = [
        sys.executable,
        "-m",
        "calibration",
        "calibrate",
        str(PETS_VIDEO),
        "--plan",
        plan.name,
        "--scale",
        str(SCALE),
        f"--origin={ORIGIN[0]:g},{ORIGIN[1]:g}",
        "--out",
        "calib/view001.json",
        "--site",
        site.name,
        "--camera",
        "view001",
        "--port",
        "0",
        "--no-browser",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        url, seen = None, []
        while url is None:
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                pytest.fail(f"footfall calibrate printed no address in 30 s: {''.join(seen)}")
            seen.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            url = found.group(0) if found else None
            if process.poll() is not None and url is None and lines.empty():
                pytest.fail(f"footfall calibrate exited with {process.returncode}: {''.join(seen)}")
        yield url, out, site
    finally:
        process.terminate()
        process.wait(timeout=10)


def click_at(page: Page, selector: str, point: np.ndarray, size: tuple[int, int]) -> None:
    """Clicks picture pixel `point` of the canvas `selector`, whose CSS size differs from its pixel size (Playwright
    scrolls the spot into view first)."""
    canvas = page.locator(selector)
    box = canvas.bounding_box()
    assert box is not None
    canvas.click(position={"x": point[0] * box["width"] / size[0], "y": point[1] * box["height"] / size[1]})


def plan_pixel(world: np.ndarray) -> np.ndarray:
    return (np.asarray(world, dtype=float) - ORIGIN) / SCALE


def fit_status(page: Page, pairs: int) -> None:
    page.wait_for_function(
        f"() => document.querySelector('#rms') && "
        f"document.querySelector('#fit-status').textContent.includes('of {pairs} pairs')"
    )


def test_calibrate_in_the_browser(calibrate_process: tuple[str, Path, Path]) -> None:
    url, out, site = calibrate_process
    feet, world = spread_pairs(9)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")

            # Eight pairs: camera frame first, then the plan.
            for index in range(8):
                click_at(page, "#frame", feet[index], PETS_SIZE)
                click_at(page, "#plan", plan_pixel(world[index]), PLAN_SIZE)
                if index == 2:
                    expect(page.locator("#fit-status")).to_contain_text("at least 4")
            fit_status(page, 8)
            rms = float(page.get_attribute("#rms", "data-rms-m"))
            assert rms < 0.3
            assert page.locator("#pairs tbody tr").count() == 8
            assert page.locator("#pairs tbody tr.bad").count() == 0

            # A ninth pair clicked in the wrong place on the plan shows in red; select it and delete it.
            click_at(page, "#plan", plan_pixel(world[8] + (3.0, 2.5)), PLAN_SIZE)
            click_at(page, "#frame", feet[8], PETS_SIZE)
            fit_status(page, 9)
            assert page.locator("#pairs tbody tr.bad").count() == 1
            page.locator("#pairs tbody tr.bad").click()
            page.keyboard.press("Delete")
            fit_status(page, 8)
            assert float(page.get_attribute("#rms", "data-rms-m")) == pytest.approx(rms)
            page.wait_for_function("() => app.previewImg !== null && app.grid !== null && app.grid.lines.length > 0")

            # A zone: four corners and Enter; renamed and made a queue.
            page.check("input[name=tool][value=zone]")
            zone = [(-11.0, -12.0), (-5.0, -12.0), (-5.0, -7.0), (-11.0, -7.0)]
            for corner in zone:
                click_at(page, "#plan", plan_pixel(corner), PLAN_SIZE)
            page.keyboard.press("Enter")
            # Its third corner dragged 1 m along x.
            box = page.locator("#plan").bounding_box()
            assert box is not None
            start, end = plan_pixel(zone[2]), plan_pixel((-4.0, -7.0))
            page.mouse.move(
                box["x"] + start[0] * box["width"] / PLAN_SIZE[0], box["y"] + start[1] * box["height"] / PLAN_SIZE[1]
            )
            page.mouse.down()
            page.mouse.move(
                box["x"] + end[0] * box["width"] / PLAN_SIZE[0],
                box["y"] + end[1] * box["height"] / PLAN_SIZE[1],
                steps=5,
            )
            page.mouse.up()
            zone[2] = (-4.0, -7.0)
            assert page.locator("#zones li input[type=text]").count() == 3  # entry, checkout from the site, and this
            page.locator("#zones li input[type=text]").nth(2).fill("seating")
            page.locator("#zones li select").nth(2).select_option("queue")

            # A counting line: two clicks; its in side switched to the right.
            page.check("input[name=tool][value=line]")
            click_at(page, "#plan", plan_pixel((-2.0, -14.0)), PLAN_SIZE)
            click_at(page, "#plan", plan_pixel((-2.0, 4.0)), PLAN_SIZE)
            page.locator("#lines li input[type=text]").first.fill("walkway")
            page.locator("#lines li select").first.select_option("right")

            page.click("#save")
            page.wait_for_selector("#save-status[data-state=ok]")
            expect(page.locator("#save-status")).to_contain_text(
                "calib/view001.json, calib/view001.points.csv, site.yaml"
            )
            assert errors == []

            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    # The calibration maps the ground truth's feet onto its world positions.
    calibration = load_calibration(out)
    assert calibration.camera == "view001" and calibration.image_size == list(PETS_SIZE)
    rows = pets_ground_truth()
    projector = projector_from_calibration(calibration)
    errors_m = np.linalg.norm(projector.to_floor(ground_truth_feet(rows)) - rows[:, 7:9], axis=1)
    assert np.median(errors_m) < 0.3
    pairs = read_point_pairs_csv(points_csv_path(out))
    assert len(pairs) == 8
    assert np.abs(pairs.floor_xy - world[:8]).max() < 2 * SCALE  # where the plan was clicked, to a pixel or so

    text = site.read_text(encoding="utf-8")
    assert "# keep this comment" in text and "bucket_s: 30" in text
    config = load_site_config(site)
    assert [zone.name for zone in config.zones] == ["entry", "checkout", "seating"]
    seating = config.zones[2]
    assert seating.kind == "queue" and len(seating.polygon) == 4
    np.testing.assert_allclose(seating.polygon, zone, atol=2 * SCALE)
    assert [(line.name, line.in_side) for line in config.lines] == [("walkway", "right")]
    np.testing.assert_allclose([config.lines[0].a, config.lines[0].b], [(-2, -14), (-2, 4)], atol=2 * SCALE)
    assert config.camera("view001").calibration == out.resolve()

    # The README's picture (docs/calibration.png is a copy of it): the same screenshot, smaller, 256 colours.
    README_SCREENSHOT.parent.mkdir(exist_ok=True)
    with Image.open(SCREENSHOT) as image:
        width = 960
        small = image.convert("RGB").resize(
            (width, round(image.height * width / image.width)), Image.Resampling.LANCZOS
        )
        small.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(README_SCREENSHOT, optimize=True)
    assert README_SCREENSHOT.stat().st_size < README_SCREENSHOT_MAX_BYTES
