"""Who may act on which alert: the role table, without HTTP."""

from __future__ import annotations

import pytest

from api.alerts import service
from api.errors import PermissionDenied
from store.models import AlertKind, Role
from store.users import create_user
from tests.api.conftest import NOW, episode


@pytest.mark.parametrize(
    ("role", "kinds"),
    [
        (Role.admin, {AlertKind.inactivity, AlertKind.meter_offline}),
        (Role.cadre, {AlertKind.inactivity}),
        (Role.property_manager, {AlertKind.meter_offline}),
        (Role.analyst, set()),
    ],
)
def test_may_act(role, kinds):
    assert {kind for kind in AlertKind if service.may_act(role, kind)} == kinds


def test_a_denied_action_changes_nothing(database, raise_alerts):
    (alert_id,) = raise_alerts(AlertKind.meter_offline, episode("m9", AlertKind.meter_offline, hours_ago=3))
    with database.session() as session:
        user, _ = create_user(session, name="zhao", role=Role.cadre, now=NOW)
        with pytest.raises(PermissionDenied, match="property_manager or admin"):
            service.resolve(session, alert_id=alert_id, user=user, note="not mine", now=NOW)
        record = service.get_alert(session, alert_id=alert_id)
    assert record.alert.status == "open"
    assert record.alert.resolution_note is None
