"""What a person sees: the dashboard in Debian's chromium, against three small recorded runs.

Every test saves a screenshot of the whole page (the tab scrolls inside Solara's layout, so the
window is made as tall as the content for the shot) under its own temporary folder.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser
TIMEOUT = 60_000
CHARTS = ("map", "network", "indicators", "flows")
VIEWPORT = {"width": 1400, "height": 1000}
# the height of the content: the document, or Solara's scrolling container if taller
CONTENT_HEIGHT = """() => Math.max(document.documentElement.scrollHeight, ...Array.from(
  document.querySelectorAll('*'), e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowY) ? e.scrollHeight : 0))"""
# the bytes behind an <img> (the charts are ipywidgets images: blob URLs), base64-encoded
IMAGE_BYTES = """async (img) => { const u = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode(...u.subarray(i, i + 8192));
  return btoa(s); }"""


def _open(page: Page, url: str) -> list[str]:
    """Load the page, keep every request URL, and wait for the first playback frame."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    expect(page.locator(".cl-month")).to_contain_text("2023-01", timeout=TIMEOUT)
    expect(page.locator(".cl-chart-map")).to_be_visible(timeout=TIMEOUT)
    return requests


def _shot(page: Page, path: Path) -> None:
    """A screenshot of the whole page at the projector's width (1400 px)."""
    height = max(VIEWPORT["height"], int(page.evaluate(CONTENT_HEIGHT)))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.wait_for_timeout(500)
    page.screenshot(path=path)
    page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 10_000


def _plot(page: Page, name: str) -> Image.Image:
    """The chart's picture without its title and footnote (both name the month)."""
    data = base64.b64decode(page.locator(f".cl-chart-{name}").first.evaluate(IMAGE_BYTES))
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    return img.crop((0, int(0.08 * h), w, int(0.85 * h)))


def _differs(a: Image.Image, b: Image.Image) -> bool:
    return a.size != b.size or ImageChops.difference(a, b).getbbox() is not None


def test_playback_page_loads_offline(page: Page, dashboard_url: str, dashboard_log: Path, tmp_path: Path) -> None:
    requests = _open(page, dashboard_url)
    for name in CHARTS:
        expect(page.locator(f".cl-chart-{name}")).to_be_visible()
        assert _plot(page, name).getextrema() != ((255, 255),) * 3, f"the {name} chart is blank"
    expect(page.get_by_text("Playback", exact=True)).to_be_visible()
    expect(page.locator(".cl-play")).to_be_enabled()
    page.wait_for_timeout(1000)
    _shot(page, tmp_path / "playback.png")
    outside = [u for u in requests if not re.match(r"^(https?|wss?)://127\.0\.0\.1[:/]", u)
               and not u.startswith(("data:", "blob:"))]
    assert not outside, f"the page fetched from outside 127.0.0.1: {outside[:5]}"
    assert any("/_solara/cdn/" in u for u in requests), "expected Solara's assets to be served by the dashboard"
    # the server had every asset itself (solara-assets): it never tried the (closed) CDN address
    assert "Could not load URL" not in dashboard_log.read_text(), dashboard_log.read_text()[-2000:]


def test_play_advances_month_and_changes_charts(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    expect(page.locator(".cl-play")).to_contain_text("Play")
    before = {name: _plot(page, name) for name in CHARTS}
    page.locator(".cl-play").click()
    expect(page.locator(".cl-play")).to_contain_text("Pause", timeout=TIMEOUT)
    expect(page.locator(".cl-month")).to_contain_text(re.compile(r"2023-0[3-6]"), timeout=TIMEOUT)
    if "Pause" in page.locator(".cl-play").inner_text():  # six months may already be over
        page.locator(".cl-play").click()
    expect(page.locator(".cl-play")).to_contain_text("Play", timeout=TIMEOUT)
    page.wait_for_timeout(1500)  # the last frame's images arrive after the month label
    month = page.locator(".cl-month").inner_text()
    after = {name: _plot(page, name) for name in CHARTS}
    _shot(page, tmp_path / "playing.png")
    assert "2023-01" not in month
    for name in CHARTS:
        assert _differs(before[name], after[name]), f"the {name} chart did not change from 2023-01 to {month}"
    # the exports are of the month shown: the PNG is the picture on the page, the CSV its data
    date = month.split()[-1]
    with page.expect_download() as download:
        page.locator(".cl-card-map").get_by_text("PNG").click()
    shown = base64.b64decode(page.locator(".cl-chart-map").first.evaluate(IMAGE_BYTES))
    assert Path(download.value.path()).read_bytes() == shown
    assert date in download.value.suggested_filename
    with page.expect_download() as download:
        page.locator(".cl-card-flows").get_by_text("CSV").click()
    csv = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0] == "month,from,to,workers" and len(csv) > 2 and all(r.startswith(date) for r in csv[1:])


def test_language_switch_to_vietnamese(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    map_en = _plot(page, "map")
    network_en = _plot(page, "network")
    page.get_by_text("Tiếng Việt", exact=True).click()
    expect(page.get_by_text("Phát lại", exact=True)).to_be_visible(timeout=TIMEOUT)
    for label in ("So sánh", "Chạy trực tiếp", "Kịch bản", "Phát", "Tốc độ", "Tô màu doanh nghiệp theo"):
        expect(page.get_by_text(label, exact=True)).to_be_visible()
    expect(page.locator(".cl-month")).to_contain_text("Tháng")
    for label in ("Playback", "Compare", "Speed", "Play"):
        expect(page.get_by_text(label, exact=True)).to_have_count(0)
    page.wait_for_timeout(1500)
    # the charts' legends and layer labels are drawn in the picture: they change too
    assert _differs(_plot(page, "map"), map_en), "the map's legend did not change language"
    assert _differs(_plot(page, "network"), network_en), "the network's labels did not change language"
    _shot(page, tmp_path / "vietnamese.png")
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_text("Playback", exact=True)).to_be_visible(timeout=TIMEOUT)


def test_compare_shows_two_runs(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    page.get_by_text("Compare", exact=True).click()
    chart = page.locator(".cl-chart-compare")
    expect(chart).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".cl-compare-runs")).to_contain_text("baseline")
    expect(page.locator(".cl-compare-runs")).to_contain_text("supplier_dev")
    with page.expect_download() as download:
        page.locator(".cl-card-compare").get_by_text("CSV").click()
    csv = Path(download.value.path()).read_text(encoding="utf-8")
    rows = [line.split(",") for line in csv.splitlines()]
    col = {name: i for i, name in enumerate(rows[0])}
    runs = {(r[col["group"]], r[col["runs"]]) for r in rows[1:]}
    # the baseline group has two seeds (a fan chart: median and bands), the variant one run
    assert runs == {("baseline", "2"), ("supplier_dev", "1")}, runs
    _shot(page, tmp_path / "compare.png")


def _until_shown(act: Callable[[], object], shows: Locator) -> None:
    """Do ``act`` until ``shows`` appears: a click that lands while the tab is still being drawn is
    lost (seen with a menu and with a lever's switch on a loaded machine), so it is made again."""
    for _ in range(3):
        act()
        try:
            shows.wait_for(state="visible", timeout=TIMEOUT // 6)
            return
        except PlaywrightTimeout:
            continue
    expect(shows).to_be_visible(timeout=TIMEOUT)


def _choose(page: Page, select: str, item: Locator) -> None:
    """Pick ``item`` from the drop-down ``select``, opening the menu until it shows."""
    _until_shown(lambda: page.locator(select).click(), item)
    item.click()


def _switch_on(page: Page, label: str, shows: Locator) -> None:
    """Switch a lever on and wait for its controls (``shows``), clicking again only while it is off."""
    switch = page.get_by_role("switch", name=label)
    _until_shown(lambda: switch.is_checked() or page.get_by_text(label).click(), shows)


def _open_scenario(page: Page, dashboard_url: str, name: str) -> None:
    """The Scenario page with one scenario file picked."""
    _open(page, dashboard_url)
    page.get_by_text("Scenario", exact=True).click()
    _choose(page, ".cl-scenario-file", page.get_by_text(name, exact=True))


def test_scenario_view_shows_levers_and_timeline(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open_scenario(page, dashboard_url, "two_levers.yaml")
    expect(page.get_by_text(re.compile(r"Supplier development programme — from 2024-01 to 2027-12")))\
        .to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text(re.compile(r"Training expansion — from 2025-07 to the end"))).to_be_visible()
    expect(page.get_by_text("SMEs enrolled per year: 100")).to_be_visible()
    expect(page.locator(".cl-chart-timeline")).to_be_visible()
    _shot(page, tmp_path / "scenario.png")


def test_invalid_scenario_shows_its_error(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open_scenario(page, dashboard_url, "broken.yaml")
    errors = page.locator(".cl-scenario-errors")
    expect(errors).to_contain_text("not valid", timeout=TIMEOUT)
    expect(errors).to_contain_text("smes_per_year")
    expect(errors).to_contain_text("broken.yaml")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    _shot(page, tmp_path / "invalid_scenario.png")


def test_live_run_is_saved_and_played_back(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    page.get_by_text("Live", exact=True).click()
    # the lever's controls come from the schema, and sliders show their values
    _switch_on(page, "Switch on: Supplier development programme", page.get_by_text("SMEs enrolled per year: 50"))
    expect(page.get_by_text("learning multiplier while coached: 1.6")).to_be_visible()
    page.get_by_text("Start / restart").click()
    page.get_by_text("One month").click()
    expect(page.locator(".cl-month")).to_contain_text("2023-01", timeout=TIMEOUT)
    page.get_by_text("One month").click()
    expect(page.locator(".cl-month")).to_contain_text("2023-02", timeout=TIMEOUT)
    page.get_by_text("Save as a run").click()
    expect(page.get_by_text(re.compile(r"Saved as live-baseline-s1-"))).to_be_visible(timeout=TIMEOUT)
    page.evaluate("() => window.scrollTo(0, 0)")
    _shot(page, tmp_path / "live.png")
    page.get_by_text("Tiếng Việt", exact=True).click()  # the message follows the language (it kept English)
    expect(page.get_by_text(re.compile(r"Đã lưu thành live-baseline-s1-"))).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("số DNNVV tham gia mỗi năm: 50")).to_be_visible()
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_text(re.compile(r"Saved as live-baseline-s1-"))).to_be_visible(timeout=TIMEOUT)
    page.get_by_text("Playback", exact=True).click()
    _choose(page, ".cl-run", page.get_by_text(re.compile(r"^live-baseline-s1-")).first)
    expect(page.locator(".cl-chart-map")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text(re.compile(r"2023-01–2023-02 · 2"))).to_be_visible(timeout=TIMEOUT)
