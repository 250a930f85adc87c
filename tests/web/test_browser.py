"""The dashboard in a real Chromium against the running service on a simulated day.

The tests share one day and move its clock forward in file order (the next race at the anchor, its
result, then a later race's grid and its plunge). The page's own timers run on Playwright's paused clock:
a test runs them for the refresh interval the page shows, so the page refreshes itself, and the test waits
for what it expects in the DOM (the race's stream may have refreshed it first: tests/web/test_push.py).
Nothing sleeps. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import expect

from raceday.core.log import configure_logging
from raceday.simulator import SimRace
from tests.conftest import new_database
from tests.serving import running
from tests.web.conftest import ARTIFACTS
from tests.web.simday import Day, next_to_jump

pytestmark = pytest.mark.asyncio(loop_scope="module")

DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
# The bettor's own six alert ranges (min, max or None, colour), saved through the API for the plunge test:
# the page must colour by these, not by the defaults. The two highest are a "large" move.
MY_RANGES = [
    (5, 8, "#E5E7EB"),
    (8, 11, "#BFDBFE"),
    (11, 14, "#FEF3C7"),
    (14, 17, "#BBF7D0"),
    (17, 30, "#FCA5A5"),
    (30, None, "#D8B4FE"),
]


def rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


LATEST_INCREMENTS = """
SELECT DISTINCT ON (f.entrant_id, f.time_interval) f.entrant_id, f.time_interval, f.incremental_win_amount
FROM money_flow_history f JOIN entrants e USING (entrant_id)
WHERE f.race_id = %s AND f.type = 'bucketed_aggregation' AND NOT e.is_scratched AND e.in_field
ORDER BY f.entrant_id, f.time_interval, f.event_timestamp DESC, f.id DESC"""


@dataclass
class Pages:
    """Opens pages on a paused clock and remembers every uncaught script error."""

    browser: Any
    contexts: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, url: str, device: dict[str, Any] = DESKTOP) -> Any:
        context = await self.browser.new_context(**device)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{url}: {error}"))
        await page.clock.install()
        await page.clock.pause_at(datetime.now() + timedelta(seconds=1))
        await page.goto(url)
        await page.wait_for_function("() => Number(document.body.dataset.refreshes || 0) >= 1")
        return page


@pytest_asyncio.fixture(loop_scope="module")
async def pages(browser: Any) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        await context.close()
    assert opened.errors == [], "the page threw"


async def refreshes(page: Any) -> int:
    return int(await page.evaluate("() => Number(document.body.dataset.refreshes || 0)"))


async def let_the_page_refresh(page: Any) -> int:
    """Run the page's clock for the interval it shows, so its own timer refreshes it once; wait for that."""
    interval = int(await page.get_attribute("#freshness", "data-interval-ms"))
    before = await refreshes(page)
    await page.clock.run_for(interval)
    await page.wait_for_function("n => Number(document.body.dataset.refreshes) > n", arg=before)
    return interval


def race_url(day: Day, race: SimRace) -> str:
    return f"{day.api.base_url}/#race={race.race_id}"


def plunge_race(day: Day) -> SimRace:
    return day.race(lambda r: r.plunge is not None and r.start - day.sim.day.anchor >= timedelta(minutes=25))


def first_race(day: Day) -> SimRace:
    return next_to_jump(day.sim.day, day.sim.day.anchor)


async def test_the_page_opens_on_the_next_race_to_jump(day: Day, pages: Pages) -> None:
    race = next_to_jump(day.sim.day, day.clock.now())
    page = await pages.open(day.api.base_url + "/")
    await expect(page.locator("#race-title")).to_have_text(
        f"{race.meeting_name} R{race.race_number} · {race.name}"
    )
    assert page.url.endswith("#race=" + race.race_id)
    await expect(page.locator("#race-status")).to_have_text("Open")
    to_start = race.start - day.clock.now()
    minutes, seconds = divmod(int(to_start.total_seconds()), 60)
    await expect(page.locator("#countdown")).to_have_text(f"Jumps in {minutes}m {seconds:02d}s")
    await expect(page.locator("#simulated")).to_be_visible()
    await expect(page.locator("#simulated")).to_contain_text("SIMULATED DATA")
    # Within five minutes of the start the pipeline polls every 15 s, and so does the page.
    assert to_start <= timedelta(minutes=5)
    await expect(page.locator("#freshness")).to_have_attribute("data-interval-ms", "15000")
    # Meetings grouped by country and category, each with its track condition and weather.
    await expect(page.locator("#meetings .group-title")).to_have_text(
        ["New Zealand · Harness", "New Zealand · Thoroughbred"]
    )
    for meeting in day.sim.day.meetings:
        facts = page.locator(f'[data-meeting-id="{meeting.meeting_id}"] .meeting-facts')
        await expect(facts).to_have_text(f"{meeting.track_condition} · {meeting.races[0].weather}")
    chip = page.locator(f'#meetings button[data-race-id="{race.race_id}"]')
    await expect(chip).to_have_attribute("aria-current", "true")
    await expect(page.locator(f'#next-list button[data-race-id="{race.race_id}"]')).to_be_visible()


async def test_a_scratched_runner_is_marked(day: Day, pages: Pages) -> None:
    race = first_race(day)
    page = await pages.open(race_url(day, race))
    scratched = [r for r in race.runners if r.scratch_at is not None and r.scratch_at <= day.clock.now()]
    assert scratched
    for runner in race.runners:
        row = page.locator(f'#runners tr[data-runner-number="{runner.runner_number}"]')
        await expect(row.locator(".runner-name")).to_have_text(runner.name)
        if runner in scratched:
            await expect(row).to_have_attribute("data-scratched", "true")
            await expect(row.locator(".badge.scr")).to_have_text("SCRATCHED")
            await expect(
                page.locator(f'#flow tr[data-entrant-id="{runner.entrant_id}"] td.now')
            ).to_have_text("SCR")
        else:
            await expect(row).to_have_attribute("data-scratched", "false")
            await expect(row.locator(".badge.scr")).to_have_count(0)
        # Jockey, trainer, barrier; silks as a swatch titled with their colours (NZ TAB's image CDN is
        # out of reach here).
        await expect(row.locator(".sub")).to_have_text(f"J: {runner.jockey} · T: {runner.trainer_name}")
        await expect(row).to_contain_text(f"({runner.barrier})")
        silk = row.locator(".silk")
        await expect(silk).to_have_attribute("aria-label", f"Silks: {runner.silk_colours}")
        assert "gradient" in await silk.evaluate("node => node.style.background")


async def test_results_and_dividends_appear_after_the_race(day: Day, pages: Pages) -> None:
    race = first_race(day)
    page = await pages.open(race_url(day, race))
    await expect(page.locator("#race-status")).to_have_text("Open")
    await expect(page.locator("#results")).to_be_hidden()
    await page.evaluate("() => { window.notReloaded = true; }")

    await day.advance_to(race.final_at + timedelta(seconds=30))
    await let_the_page_refresh(page)

    await expect(page.locator("#race-status")).to_have_text("Final result")
    await expect(page.locator("#results")).to_be_visible()
    await expect(page.locator("#results-title")).to_have_text("Result — official")
    by_number = {runner.runner_number: runner for runner in race.runners}
    placings = page.locator("#placings tbody tr")
    for index, number in enumerate(race.finish_order[:3]):
        await expect(placings.nth(index)).to_contain_text(by_number[number].name)
    # The dividends as NZ TAB (here the simulator) paid them, to the cent.
    async with httpx.AsyncClient() as client:
        event = (await client.get(f"{day.sim.base_url}/affiliates/v1/racing/events/{race.race_id}")).json()
    final = [d for d in event["data"]["dividends"] if d["status"] == "Final"]
    win = next(d for d in final if d["product_name"] == "Pool Win")
    row = page.locator('#dividends tr[data-product="Pool Win"]')
    await expect(row.locator("td").nth(2)).to_have_text(f"${win['dividend']:.2f}")
    await expect(page.locator("#dividends tbody tr")).to_have_count(len(final))
    assert await page.evaluate("() => window.notReloaded") is True


async def test_the_grid_fills_and_updates_across_a_refresh(day: Day, pages: Pages) -> None:
    race = plunge_race(day)
    page = await pages.open(race_url(day, race))
    await page.evaluate("() => { window.notReloaded = true; }")
    runner = next(r for r in race.runners if r.scratch_at is None)
    row = page.locator(f'#flow tbody tr[data-entrant-id="{runner.entrant_id}"]')

    async def check_filled() -> set[int]:
        stored = {
            b
            for (b,) in day.rows(
                "SELECT DISTINCT time_interval FROM money_flow_history WHERE race_id = %s", race.race_id
            )
        }
        for bucket in (60, 55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5, 4, 3, 2, 1, 0):
            cell = row.locator(f'td[data-bucket="{bucket}"]')
            if bucket in stored:
                await expect(cell).not_to_have_class("empty")
                await expect(cell).not_to_have_text("–")
            else:
                await expect(cell).to_have_class("empty" if bucket > 5 else "empty late")
        return stored

    # More than 15 minutes out: the page refreshes every 60 s, as the pipeline polls.
    assert race.start - day.clock.now() > timedelta(minutes=15)
    await expect(page.locator("#freshness")).to_have_attribute("data-interval-ms", "60000")
    before = await check_filled()
    assert before
    assert max(before) <= 35
    assert not {20, 15, 10, 5} & before

    await day.advance_to(race.start - timedelta(minutes=8))
    # The race's stream has refreshed the page already (at the 30 s rung now); its own timer does too.
    await let_the_page_refresh(page)

    after = await check_filled()
    assert {20, 15, 10, 5} <= after
    # Inside 15 minutes: every 30 s.
    await expect(page.locator("#freshness")).to_have_attribute("data-interval-ms", "30000")
    assert await page.evaluate("() => window.notReloaded") is True


async def test_a_plunge_shows_in_the_right_column_and_colour(day: Day, pages: Pages) -> None:
    race = plunge_race(day)
    assert race.plunge is not None
    plunger = next(r for r in race.runners if r.runner_number == race.plunge.runner_number)
    indicators = [
        {
            "percentage_range_min": low,
            "percentage_range_max": high,
            "color": colour,
            "display_order": order,
            "enabled": True,
        }
        for order, (low, high, colour) in enumerate(MY_RANGES, start=1)
    ]
    async with httpx.AsyncClient(base_url=day.api.base_url) as client:
        saved = await client.post(
            "/api/user-alert-configs",
            json={"user_id": "Default User", "indicators": indicators, "audible_alerts_enabled": True},
        )
    assert saved.status_code == 200, saved.text
    page = await pages.open(race_url(day, race))
    await expect(page.locator("#flow-legend li")).to_have_text(
        ["5–8%", "8–11%", "11–14%", "14–17%", "17–30%", "30%+"]
    )
    await page.click("#sound-toggle")
    await expect(page.locator("#sound-toggle")).to_have_attribute("aria-pressed", "true")

    # The plunge's ramp lies in bucket 5 (9.5 to 4.5 minutes out); at 3 minutes out that bucket is complete.
    await day.advance_to(race.start - timedelta(minutes=3))
    await let_the_page_refresh(page)

    # The oracle, from the stored rows: each runner's share of the win money added in buckets 10 and 5.
    increments: dict[int, dict[str, int]] = {10: {}, 5: {}}
    for entrant_id, bucket, amount in day.rows(LATEST_INCREMENTS, race.race_id):
        if bucket in increments:
            increments[bucket][entrant_id] = max(0, amount or 0)
    shares = {
        bucket: {e: 100 * amount / sum(amounts.values()) for e, amount in amounts.items()}
        for bucket, amounts in increments.items()
    }
    change = {e: shares[5][e] - shares[10][e] for e in shares[5]}
    assert max(change, key=lambda e: change[e]) == plunger.entrant_id
    rise = change[plunger.entrant_id]
    # The simulated plunge (a runner's betting weight times 5-9 over two minutes) lifts its share of the
    # bucket's money by about 20 points: inside the fifth range, clear of both of its ends.
    assert 18 <= rise < 28, f"the simulated plunge moved its share by {rise:.1f} points"
    order, colour = 5, rgb(MY_RANGES[4][2])

    cell = page.locator(f'#flow td[data-entrant-id="{plunger.entrant_id}"][data-bucket="5"]')
    await expect(cell).to_have_attribute("data-alert", str(order))
    await expect(cell).to_have_css("background-color", colour)
    earlier = page.locator(f'#flow td[data-entrant-id="{plunger.entrant_id}"][data-bucket="10"]')
    await expect(earlier).not_to_have_attribute("data-alert", str(order))
    # A large late move: listed, and (sound on) a beep.
    alert = page.locator(f'#alerts-log li[data-entrant-id="{plunger.entrant_id}"][data-bucket="5"]')
    await expect(alert).to_contain_text(f"#{plunger.runner_number} {plunger.name}")
    assert int(await page.evaluate("() => Number(document.body.dataset.beeps || 0)")) >= 1

    # The odds view: the plunged runner's fixed price at bucket 5 is shorter than at bucket 10.
    await page.click("#view-odds")
    await expect(page.locator("#view-odds")).to_have_attribute("aria-pressed", "true")
    prices = [
        float(
            await page.locator(
                f'#flow td[data-entrant-id="{plunger.entrant_id}"][data-bucket="{b}"]'
            ).inner_text()
        )
        for b in (10, 5)
    ]
    assert prices[1] < prices[0]


async def test_runners_sort_and_the_keyboard_moves_between_races(day: Day, pages: Pages) -> None:
    race = plunge_race(day)
    page = await pages.open(race_url(day, race))
    async with httpx.AsyncClient(base_url=day.api.base_url) as client:
        entrants = (await client.get("/api/entrants", params={"raceId": race.race_id})).json()
    running_ = [e for e in entrants if not e["is_scratched"]]
    scratched = [e["runner_number"] for e in entrants if e["is_scratched"]]

    async def order() -> list[int]:
        numbers = await page.locator("#runners tbody tr").evaluate_all(
            "rows => rows.map(row => Number(row.dataset.runnerNumber))"
        )
        return [int(n) for n in numbers]

    money = page.locator('th[data-sort="money"] button')
    await money.focus()
    await page.keyboard.press("Enter")
    # Most money first, the way a bettor reads that column.
    await expect(page.locator('th[data-sort="money"]')).to_have_attribute("aria-sort", "descending")
    by_money = sorted(running_, key=lambda e: (-(e["win_pool_amount"] or 0), e["runner_number"]))
    assert await order() == [e["runner_number"] for e in by_money] + sorted(scratched)

    await page.click('th[data-sort="odds"] button')
    by_odds = sorted(running_, key=lambda e: (e["fixed_win_odds"], e["runner_number"]))
    assert await order() == [e["runner_number"] for e in by_odds] + sorted(scratched)

    # ] and [ move to the next and previous race by start time, across meetings.
    timetable = sorted(day.races, key=lambda r: (r.start, r.race_id))
    following = timetable[timetable.index(race) + 1]
    await page.locator("body").press("]")
    await expect(page.locator("#race-title")).to_have_text(
        f"{following.meeting_name} R{following.race_number} · {following.name}"
    )
    assert page.url.endswith("#race=" + following.race_id)
    await page.locator("body").press("[")
    await expect(page.locator("#race-title")).to_have_text(
        f"{race.meeting_name} R{race.race_number} · {race.name}"
    )


async def test_an_unknown_race_is_said_and_next_to_jump_recovers(day: Day, pages: Pages) -> None:
    page = await pages.open(day.api.base_url + "/#race=no-such-race")
    await expect(page.locator("#race-title")).to_have_text("That race is not known to raceday")
    race = next_to_jump(day.sim.day, day.clock.now())
    await page.click("#nav-next-to-jump")
    await expect(page.locator("#race-title")).to_have_text(
        f"{race.meeting_name} R{race.race_number} · {race.name}"
    )
    assert page.url.endswith("#race=" + race.race_id)


async def test_phone_and_desktop_layouts(day: Day, pages: Pages) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"race": plunge_race(day), "results": first_race(day)}
    for name, race in shots.items():
        for device_name, device in (("desktop", DESKTOP), ("phone", PHONE)):
            page = await pages.open(race_url(day, race), device)
            await expect(page.locator("#race-title")).to_contain_text(f"R{race.race_number}")
            await expect(page.locator("#flow tbody tr")).to_have_count(len(race.runners))
            width = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{name} on {device_name} scrolls sideways: {width}"
            await page.screenshot(path=ARTIFACTS / f"dashboard-{name}-{device_name}.png", full_page=True)


async def test_an_unhealthy_backend_is_said_plainly(browser: Any, pg_server: Any) -> None:
    pages = Pages(browser)
    # JSON logs into a buffer: the console renderer's rich tracebacks of every failed request are slow.
    logs = io.StringIO()
    configure_logging("info", "test", stream=logs)
    try:
        with new_database(pg_server) as url:
            async with running(url) as api:
                await api.runtime.pool.close()
                page = await pages.open(api.base_url + "/")
                await expect(page.locator("#unhealthy")).to_be_visible()
                await expect(page.locator("#unhealthy")).to_contain_text("Backend unhealthy")
                await expect(page.locator("#health")).to_have_text("Backend unhealthy")
                # Not the simulator: no SIMULATED DATA banner.
                await expect(page.locator("#simulated")).to_be_hidden()
                for context in pages.contexts:
                    await context.close()
    finally:
        configure_logging("info", "test")
    assert pages.errors == []
    assert any(json.loads(line)["msg"] == "Health check failed" for line in logs.getvalue().splitlines())
