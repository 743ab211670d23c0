"""Who may act on which alert: the role table, without HTTP."""

from __future__ import annotations

import pytest

from api.access import scope_for
from api.alerts import service
from api.errors import PermissionDenied
from store.models import AlertKind, BuildingManager, Role
from store.users import create_user
from tests.api.conftest import NOW, episode


@pytest.mark.parametrize(
    ("role", "kinds"),
    [
        (Role.admin, {AlertKind.inactivity, AlertKind.meter_offline, AlertKind.continuous_flow,
                      AlertKind.unusual_pattern, AlertKind.fleet_outage}),
        (Role.secretary, {AlertKind.inactivity, AlertKind.meter_offline, AlertKind.continuous_flow,
                          AlertKind.unusual_pattern, AlertKind.fleet_outage}),
        (Role.cadre, {AlertKind.inactivity, AlertKind.continuous_flow, AlertKind.unusual_pattern}),
        (Role.property_manager, {AlertKind.meter_offline, AlertKind.continuous_flow, AlertKind.fleet_outage}),
        (Role.analyst, set()),
    ],
)
def test_may_act(role, kinds):
    assert {kind for kind in AlertKind if service.may_act(role, kind)} == kinds


def test_every_kind_has_someone_besides_admin_and_secretary_to_act_on_it():
    for kind in AlertKind:
        assert any(service.may_act(role, kind) for role in Role if role not in (Role.admin, Role.secretary)), kind


def test_a_fleet_outage_is_handed_to_the_property_manager(database, raise_alerts, home):
    (alert_id,) = raise_alerts(AlertKind.fleet_outage, episode("*", AlertKind.fleet_outage, hours_ago=3))
    with database.session() as session:
        cadre, _ = create_user(session, name="zhao", role=Role.cadre, now=NOW, community_id=home["community"])
        manager, _ = create_user(session, name="qian", role=Role.property_manager, now=NOW,
                                 community_id=home["community"])
        session.add(BuildingManager(building_id=home["building"], user_id=manager.id))
        with pytest.raises(PermissionDenied, match="property_manager or secretary or admin"):
            service.acknowledge(session, scope=scope_for(session, cadre), alert_id=alert_id, now=NOW)
        record = service.acknowledge(session, scope=scope_for(session, manager), alert_id=alert_id, now=NOW)
    assert (record.alert.status, record.acknowledged_by) == ("acknowledged", "qian")


def test_a_running_tap_may_be_handled_by_the_cadre_or_the_property_manager(database, raise_alerts, home):
    first, second = raise_alerts(
        AlertKind.continuous_flow,
        episode("m1", AlertKind.continuous_flow, hours_ago=9),
        episode("m2", AlertKind.continuous_flow, hours_ago=9),
    )
    with database.session() as session:
        cadre, _ = create_user(session, name="zhao", role=Role.cadre, now=NOW, community_id=home["community"])
        manager, _ = create_user(session, name="qian", role=Role.property_manager, now=NOW,
                                 community_id=home["community"])
        session.add(BuildingManager(building_id=home["building"], user_id=manager.id))
        analyst, _ = create_user(session, name="sun", role=Role.analyst, now=NOW, community_id=home["community"])
        with pytest.raises(PermissionDenied, match="cadre or property_manager or secretary or admin"):
            service.resolve(session, scope=scope_for(session, analyst), alert_id=first, note=None, now=NOW)
        service.resolve(session, scope=scope_for(session, cadre), alert_id=first, note="tap closed", now=NOW)
        service.resolve(session, scope=scope_for(session, manager), alert_id=second, note="pipe fixed", now=NOW)
        statuses = [service.get_alert(session, scope=scope_for(session, manager), alert_id=i).alert.status
                    for i in (first, second)]
    assert statuses == ["resolved", "resolved"]


def test_a_denied_action_changes_nothing(database, raise_alerts, home):
    (alert_id,) = raise_alerts(AlertKind.meter_offline, episode("m9", AlertKind.meter_offline, hours_ago=3))
    with database.session() as session:
        user, _ = create_user(session, name="zhao", role=Role.cadre, now=NOW, community_id=home["community"])
        with pytest.raises(PermissionDenied, match="property_manager or secretary or admin"):
            service.resolve(session, scope=scope_for(session, user), alert_id=alert_id, note="not mine", now=NOW)
        record = service.get_alert(session, scope=scope_for(session, user), alert_id=alert_id)
    assert record.alert.status == "open"
    assert record.alert.resolution_note is None
