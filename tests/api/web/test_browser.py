"""The cadre's page end to end in a real headless Chromium (Debian's), against the real app under uvicorn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from store.alerts import Episode, add_note, sync_episodes
from store.models import Alert, AlertAction, AlertEvent, AlertKind, AlertStatus
from store.times import utc_now

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "install Debian's chromium: tests/services.sh does (never `playwright install`)"
    # Playwright's sync API runs its own event loop: never inside an asyncio test.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)  # a busy CI machine is slow, never wrong
    yield page
    context.close()  # before the server stops, so its event stream ends


def sign_in(page: Page, url: str, name: str, password: str) -> None:
    page.goto(f"{url}/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").first.fill(password)
    page.locator("#sign-in").click()
    expect(page).to_have_url(f"{url}/")


def raise_inactivity(db, meter_id: str) -> int:
    """Raise an inactivity alarm the way the detector does."""
    now = utc_now()
    started = now - timedelta(hours=14)
    with db.session() as session:
        sync_episodes(session, kind=AlertKind.inactivity, now=now, episodes=[
            Episode(meter_id=meter_id, kind=AlertKind.inactivity, severity="alarm", started_at=started,
                    raised_at=now - timedelta(hours=2)),
        ])
        return session.scalar(select(Alert.id).where(Alert.meter_id == meter_id))


def test_a_cadre_signs_in_sees_an_alert_arrive_acknowledges_and_resolves_it(page, live_server):
    url = live_server.url
    sign_in(page, url, "cadre-li", "cadre-li-pw")
    expect(page.locator("h1")).to_contain_text("待处理的提醒")  # Chinese by default
    expect(page.locator(".quiet")).to_have_text("一切正常，没有待处理的提醒。")
    expect(page.locator("#live")).to_have_text("实时更新")  # the event stream is open

    alert_id = raise_inactivity(live_server.db, "m-dong")
    card = page.locator(f"#alert-{alert_id}")
    expect(card).to_be_visible()  # it arrived without reloading: pushed by the event stream
    expect(card).to_contain_text("长时间未用水")
    expect(card).to_contain_text("紧急")
    expect(card).to_contain_text("3号楼 2-502")

    card.get_by_role("button", name="已确认").click()
    card = page.locator(f"#alert-{alert_id}")
    expect(card.locator(".status")).to_contain_text("已确认")
    expect(card.locator(".status")).to_contain_text("cadre-li")
    card.locator("summary").click()
    expect(card.locator(".trail li[data-action=acknowledged]")).to_contain_text("cadre-li")
    with live_server.db.session() as session:
        trail = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id)).all()
        assert [e.action for e in trail] == [AlertAction.raised, AlertAction.acknowledged]

    card.locator("select[name=outcome]").select_option("needed_help")
    card.locator("input[name=note]").fill("在女儿家，电话确认平安")
    # A live update while she types (someone adds a note) must not wipe what she has written.
    with live_server.db.session() as session:
        add_note(session, alert_id=alert_id, user_id=None, note="书记已知悉", now=utc_now())
    expect(card.locator(".trail li[data-action=noted]")).to_be_visible()  # swapped in, the history still open
    expect(card.locator("input[name=note]")).to_have_value("在女儿家，电话确认平安")
    expect(card.locator("select[name=outcome]")).to_have_value("needed_help")
    card.locator("select[name=outcome]").select_option("resident_fine")  # after all, she was fine
    card.get_by_role("button", name="处理完毕").click()
    expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)  # it leaves the open list
    expect(page.locator(".quiet")).to_be_visible()
    with live_server.db.session() as session:
        alert = session.get(Alert, alert_id)
        assert (alert.status, alert.outcome, alert.resolution_note) == (
            AlertStatus.resolved, "resident_fine", "在女儿家，电话确认平安")


def test_another_cadre_does_not_see_it_and_english_is_there(page, live_server):
    url = live_server.url
    alert_id = raise_inactivity(live_server.db, "m-dong")
    sign_in(page, url, "cadre-zhao", "cadre-zhao-pw")
    expect(page.locator(".quiet")).to_be_visible()
    expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)
    page.goto(f"{url}/households/{live_server.world.households['m-dong']}")
    expect(page.locator(".error")).to_contain_text("不是您负责的住户")

    page.goto(f"{url}/?lang=en")
    expect(page.locator("h1")).to_contain_text("Open alerts")
    expect(page.locator(".quiet")).to_have_text("All quiet: no open alerts.")
    page.goto(f"{url}/")  # English is remembered
    expect(page.locator("h1")).to_contain_text("Open alerts")
    page.locator("#lang").click()
    expect(page.locator("h1")).to_contain_text("待处理的提醒")


def test_the_household_page_shows_the_residents_to_call(page, live_server):
    url = live_server.url
    raise_inactivity(live_server.db, "m-dong")
    sign_in(page, url, "cadre-li", "cadre-li-pw")
    page.locator(".where a").click()
    expect(page.locator("h1")).to_have_text("3号楼 2-502")
    expect(page.locator("#state")).to_contain_text("长时间未用水")
    expect(page.locator("a.tel").first).to_have_attribute("href", "tel:13800000001")
    expect(page.locator(".alert")).to_have_count(1)

    # Mrs Dong goes to her daughter's for a week: her cadre marks her away.
    today = utc_now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    expect(page.locator(".away-window")).to_have_count(0)
    page.get_by_label("离开日期").fill(today.isoformat())
    page.get_by_label("回来日期").fill((today + timedelta(days=7)).isoformat())
    page.get_by_label("备注（例如：去女儿家）").fill("去女儿家")
    page.get_by_role("button", name="登记外出").click()
    expect(page.locator(".away-window")).to_contain_text(f"{today.isoformat()} 00:00 至")
    expect(page.locator(".away-window")).to_contain_text("去女儿家")
    expect(page.locator("#state")).to_contain_text("外出中")
