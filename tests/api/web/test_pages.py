"""The page's content: my open alerts in order, buttons only where the user may act, a household's status."""

from __future__ import annotations

import re
from datetime import timedelta

from api.web.chart import HOURS
from store.models import AlertKind
from store.readings import Reading
from store.times import to_ms
from tests.api.conftest import NOW, episode


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="alert-(\d+)"', html)]


def test_my_open_alerts_most_severe_first_then_newest(sign_in, world, raise_alerts):
    old_alarm, new_warning = raise_alerts(
        AlertKind.inactivity, episode("m-dong", AlertKind.inactivity, hours_ago=30),
        episode("m-wang", AlertKind.inactivity, hours_ago=5, severity="warning"),
    )
    (info,) = raise_alerts(AlertKind.unusual_pattern, episode("m-dong", AlertKind.unusual_pattern, hours_ago=2,
                                                              severity="info"))
    (new_alarm,) = raise_alerts(AlertKind.continuous_flow, episode("m-dong", AlertKind.continuous_flow, hours_ago=9))
    raise_alerts(AlertKind.meter_offline, episode("m-far", AlertKind.meter_offline, hours_ago=1))  # another community
    client = sign_in("cadre-li")
    page = client.get("/").text
    assert card_ids(page) == [new_alarm, old_alarm, info]  # cadre-zhao's household and the far community are not hers
    assert "3号楼 2-502" in page and "开始于 11-22 04:00（9 小时前）" in page
    assert new_warning not in card_ids(page)
    # cadre-zhao, in the same community, sees only the household assigned to him
    client.post("/logout", headers={"Origin": "http://testserver"})
    assert card_ids(sign_in("cadre-zhao").get("/").text) == [new_warning]


def test_buttons_only_where_the_user_may_act(sign_in, world, raise_alerts):
    (inactive,) = raise_alerts(AlertKind.inactivity, episode("m-dong", AlertKind.inactivity, hours_ago=14))
    (offline,) = raise_alerts(AlertKind.meter_offline, episode("m-dong", AlertKind.meter_offline, hours_ago=3))
    cadre = sign_in("cadre-li").get("/fragments/alerts").text
    assert f'/api/v1/alerts/{inactive}/ack' in cadre and f'/api/v1/alerts/{inactive}/resolve' in cadre
    assert f'/api/v1/alerts/{offline}/' not in cadre and "此类提醒由其他人员处理" in cadre
    for outcome in ("老人安好", "老人外出", "需要帮助", "已呼叫急救", "水表故障", "误报"):
        assert outcome in cadre
    sign_in("cadre-li").post("/logout", headers={"Origin": "http://testserver"})
    manager = sign_in("pm-zhou").get("/fragments/alerts").text
    assert f'/api/v1/alerts/{offline}/ack' in manager and f'/api/v1/alerts/{inactive}/' not in manager


def test_the_fragment_asks_a_signed_out_page_to_sign_in(web_client):
    assert web_client.get("/fragments/alerts").status_code == 401
    assert web_client.get("/events").status_code == 401


def test_a_household_page_shows_residents_only_to_those_who_may_see_them(sign_in, world, database, raise_alerts):
    raise_alerts(AlertKind.inactivity, episode("m-dong", AlertKind.inactivity, hours_ago=14))
    dong = world.households["m-dong"]
    page = sign_in("cadre-li").get(f"/households/{dong}").text
    assert "董阿姨" in page and 'href="tel:13800000001"' in page and 'href="tel:010-1234"' in page
    assert "长时间未用水" in page and "水表 m-dong" in page
    sign_in("cadre-li").post("/logout", headers={"Origin": "http://testserver"})
    manager = sign_in("pm-zhou").get(f"/households/{dong}")
    assert manager.status_code == 200 and "3号楼 2-502" in manager.text
    assert "董阿姨" not in manager.text and "tel:" not in manager.text


def test_a_household_that_is_not_yours_is_not_found(sign_in, world):
    client = sign_in("cadre-li")
    for other in (world.households["m-wang"], world.households["m-far"], 9999, 2**63):
        response = client.get(f"/households/{other}")
        assert response.status_code == 404 and "不是您负责的住户" in response.text
        assert "王伯伯" not in response.text and "远方" not in response.text
        assert client.get(f"/fragments/alerts?household={other}").status_code == 404


def test_a_household_page_charts_last_weeks_use_across_a_meter_swap(sign_in, world, database, sqlite_readings):
    from store.links import link_meter

    dong = world.households["m-dong"]
    with database.session() as session:
        link_meter(session, meter_id="m-dong-2", household_id=dong, at=NOW - timedelta(days=2))
    # 10 L every 6 hours on the old meter, then on the new one after the swap; another meter's use never shows.
    readings = []
    for hours_ago in range(0, 6 * 24, 6):
        at = NOW - timedelta(hours=hours_ago)
        meter = "m-dong-2" if at >= NOW - timedelta(days=2) else "m-dong"
        readings.append(Reading(meter, to_ms(at), 1000.0 - hours_ago / 6 * 10, to_ms(at)))
        readings.append(Reading("m-wang", to_ms(at), 5000.0 - hours_ago, to_ms(at)))
    sqlite_readings.write(readings)
    page = sign_in("cadre-li").get(f"/households/{dong}").text
    bars = re.findall(r"<rect [^>]*><title>([^<]*)</title>", page)
    assert 20 <= len(bars) <= HOURS
    assert all(title.endswith("· 10 L") for title in bars), bars
    assert "水表 m-dong-2" in page


def test_away_windows_show_on_the_household_page(sign_in, world, database):
    from store.models import AwayWindow

    dong = world.households["m-dong"]
    with database.session() as session:
        session.add(AwayWindow(household_id=dong, starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=6),
                               note="去女儿家", created_at=NOW))
        session.add(AwayWindow(household_id=dong, starts_at=NOW - timedelta(days=9), ends_at=NOW - timedelta(days=8),
                               created_at=NOW))  # over: it expired by itself
    page = sign_in("cadre-li").get(f"/households/{dong}").text
    assert "外出中，2026-11-28 回来" in page
    assert "2026-11-21 13:00 至 2026-11-28 13:00" in page and "去女儿家" in page
    assert page.count('class="away-window"') == 1
    assert f'data-api="/api/v1/households/{dong}/away"' in page
