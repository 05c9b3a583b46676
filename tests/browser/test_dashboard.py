"""What a person sees: the dashboard in Debian's chromium, against two small recorded runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
TIMEOUT = 60_000


def _open(page: Page, url: str) -> list[str]:
    """Load the page, keep every request URL, and wait for the first playback frame."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    expect(page.locator(".cl-month")).to_contain_text("2023-01", timeout=TIMEOUT)
    expect(page.locator(".cl-chart-map")).to_be_visible(timeout=TIMEOUT)
    return requests


def _src(page: Page, name: str) -> str:
    return page.locator(f".cl-chart-{name}").first.get_attribute("src") or ""


def test_playback_page_loads_offline(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    requests = _open(page, dashboard_url)
    for name in ("map", "network", "indicators", "flows"):
        expect(page.locator(f".cl-chart-{name}")).to_be_visible()
    expect(page.get_by_text("Playback", exact=True)).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=tmp_path / "playback.png", full_page=True)
    outside = [u for u in requests if not re.match(r"^(https?|wss?)://127\.0\.0\.1[:/]", u)
               and not u.startswith(("data:", "blob:"))]
    assert not outside, f"the page fetched from outside 127.0.0.1: {outside[:5]}"


def test_play_advances_month_and_changes_charts(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    before = {name: _src(page, name) for name in ("map", "network", "indicators", "flows")}
    page.locator(".cl-play").click()
    expect(page.locator(".cl-month")).not_to_contain_text("2023-01", timeout=TIMEOUT)
    expect(page.locator(".cl-month")).to_contain_text(re.compile(r"2023-0[3-6]"), timeout=TIMEOUT)
    page.get_by_text("Pause", exact=True).click()
    page.wait_for_timeout(1500)
    after = {name: _src(page, name) for name in before}
    page.screenshot(path=tmp_path / "playing.png", full_page=True)
    for name in before:
        assert after[name] and after[name] != before[name], f"the {name} chart did not change"


def test_language_switch_to_vietnamese(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    map_en = _src(page, "map")
    page.get_by_text("Tiếng Việt", exact=True).click()
    expect(page.get_by_text("Phát lại", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("So sánh", exact=True)).to_be_visible()
    expect(page.locator(".cl-month")).to_contain_text("Tháng")
    expect(page.get_by_text("Phát", exact=True)).to_be_visible()
    page.wait_for_timeout(1500)
    assert _src(page, "map") != map_en, "the map's labels did not change language"
    page.screenshot(path=tmp_path / "vietnamese.png", full_page=True)


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
    assert "baseline" in csv and "supplier_dev" in csv
    page.screenshot(path=tmp_path / "compare.png", full_page=True)


def test_invalid_scenario_shows_its_error(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    page.get_by_text("Scenario", exact=True).click()
    page.locator(".cl-scenario-file").click()
    page.get_by_text("broken.yaml", exact=True).click()
    errors = page.locator(".cl-scenario-errors")
    expect(errors).to_contain_text("not valid", timeout=TIMEOUT)
    expect(errors).to_contain_text("smes_per_year")
    expect(errors).to_contain_text("broken.yaml")
    expect(page.get_by_text("Traceback")).to_have_count(0)
    page.screenshot(path=tmp_path / "invalid_scenario.png", full_page=True)


def test_live_run_is_saved_and_played_back(page: Page, dashboard_url: str, tmp_path: Path) -> None:
    _open(page, dashboard_url)
    page.get_by_text("Live", exact=True).click()
    page.get_by_text("Switch on: Supplier development programme").click()
    expect(page.get_by_text("SMEs enrolled per year")).to_be_visible(timeout=TIMEOUT)
    page.get_by_text("Start / restart").click()
    page.get_by_text("One month").click()
    expect(page.locator(".cl-month")).to_contain_text("2023-01", timeout=TIMEOUT)
    page.get_by_text("One month").click()
    expect(page.locator(".cl-month")).to_contain_text("2023-02", timeout=TIMEOUT)
    page.get_by_text("Save as a run").click()
    expect(page.get_by_text(re.compile(r"Saved as live-baseline-s1-"))).to_be_visible(timeout=TIMEOUT)
    page.screenshot(path=tmp_path / "live.png", full_page=True)
    page.get_by_text("Playback", exact=True).click()
    page.locator(".cl-run").click()
    page.get_by_text(re.compile(r"^live-baseline-s1-")).first.click()
    expect(page.locator(".cl-chart-map")).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text(re.compile(r"2023-01–2023-02 · 2"))).to_be_visible(timeout=TIMEOUT)
