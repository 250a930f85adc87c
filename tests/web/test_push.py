"""The dashboard on the race's stream: a stored poll reaches the page with the page's own clock paused (so
its polling never fires), and when the stream endpoint fails the page says so and polls as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.web.simday import Day
from tests.web.test_browser import Pages, let_the_page_refresh, plunge_race, race_url, refreshes

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def pages(browser: Any) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        await context.close()
    assert opened.errors == [], "the page threw"


def stored_buckets(day: Day, race_id: str) -> set[int]:
    return {
        bucket
        for (bucket,) in day.rows(
            "SELECT DISTINCT time_interval FROM money_flow_history WHERE race_id = %s", race_id
        )
    }


async def test_a_stored_poll_is_pushed_to_the_page_without_polling(day: Day, pages: Pages) -> None:
    race = plunge_race(day)
    page = await pages.open(race_url(day, race))
    await expect(page.locator("body")).to_have_attribute("data-mode", "push")
    await expect(page.locator("#freshness")).to_contain_text("push")
    runner = next(r for r in race.runners if r.scratch_at is None)
    cell = page.locator(f'#flow tbody tr[data-entrant-id="{runner.entrant_id}"] td[data-bucket="20"]')
    assert 20 not in stored_buckets(day, race.race_id)
    await expect(cell).to_have_class("empty")
    before = await refreshes(page)

    # The page's clock stays paused: its ladder cannot fire, only a push can bring the new bucket.
    await day.advance_to(race.start - timedelta(minutes=22))
    assert 20 in stored_buckets(day, race.race_id)
    await expect(cell).not_to_have_class("empty")
    assert await refreshes(page) > before
    assert int(await page.evaluate("() => Number(document.body.dataset.pushes)")) >= 2


async def test_when_the_stream_fails_the_page_polls(day: Day, pages: Pages) -> None:
    race = plunge_race(day)
    refused: list[str] = []

    async def fail(route: Any) -> None:
        refused.append(route.request.url)
        await route.fulfill(status=500, content_type="application/json", body='{"error":"x","details":"y"}')

    context = await pages.browser.new_context()
    pages.contexts.append(context)
    await context.route("**/stream", fail)
    page = await context.new_page()
    page.on("pageerror", lambda error: pages.errors.append(str(error)))
    await page.clock.install()
    await page.goto(race_url(day, race))
    await page.wait_for_function("() => Number(document.body.dataset.refreshes || 0) >= 1")
    await expect(page.locator("body")).to_have_attribute("data-mode", "polling")
    await expect(page.locator("#freshness")).to_contain_text("polling every")
    assert refused

    runner = next(r for r in race.runners if r.scratch_at is None)
    cell = page.locator(f'#flow tbody tr[data-entrant-id="{runner.entrant_id}"] td[data-bucket="15"]')
    await expect(cell).to_have_class("empty")
    await day.advance_to(race.start - timedelta(minutes=17))
    assert 15 in stored_buckets(day, race.race_id)
    await let_the_page_refresh(page)
    await expect(cell).not_to_have_class("empty")
    assert await page.evaluate("() => document.body.dataset.pushes") is None
