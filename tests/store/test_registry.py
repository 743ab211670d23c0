"""The registry's plain functions: names unique per parent, assignments idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from store import registry
from store.models import Role
from store.users import create_user

NOW = datetime(2026, 11, 22, 5, tzinfo=UTC)


def test_names_are_unique_within_their_parent_only(database):
    with database.session() as session:
        east = registry.create_community(session, name="东湖", now=NOW)
        west = registry.create_community(session, name="西湖", now=NOW)
        with pytest.raises(registry.NameTaken, match="pick another name"):
            registry.create_community(session, name="东湖", now=NOW)
        one = registry.create_building(session, community_id=east.id, name="1号楼")
        registry.create_building(session, community_id=west.id, name="1号楼")  # another community: fine
        with pytest.raises(registry.NameTaken, match="1号楼"):
            registry.create_building(session, community_id=east.id, name="1号楼")
        flat = registry.create_household(session, building_id=one.id, unit="2-502", now=NOW)
        other = registry.create_household(session, building_id=one.id, unit="2-503", now=NOW)
        with pytest.raises(registry.NameTaken, match="2-502"):
            registry.create_household(session, building_id=one.id, unit="2-502", now=NOW)
        with pytest.raises(registry.NameTaken, match="2-502"):
            registry.update_household(session, other, unit="2-502")
        with pytest.raises(registry.NameTaken):
            registry.update_community(session, west, name="东湖")
        assert registry.buildings_by_name(session, east.id) == {"1号楼": one}
        assert registry.household_by_unit(session, building_id=one.id, unit="2-502") is flat


def test_residents_cadres_and_managers(database):
    with database.session() as session:
        community = registry.create_community(session, name="东湖", now=NOW)
        building = registry.create_building(session, community_id=community.id, name="1号楼")
        flat = registry.create_household(session, building_id=building.id, unit="101", now=NOW)
        resident = registry.create_resident(session, household_id=flat.id, display_name="董阿姨",
                                            phones=["138 0000 0000", " ", "021-5555"], notes="耳背")
        assert registry.split_phones(resident.phones) == ["138 0000 0000", "021-5555"]
        registry.update_resident(session, resident, phones=["139"])
        assert [r.phones for r in registry.residents_of(session, flat.id)] == ["139"]
        cadre, _ = create_user(session, name="li", role=Role.cadre, now=NOW, community_id=community.id)
        manager, _ = create_user(session, name="zhao", role=Role.property_manager, now=NOW,
                                 community_id=community.id)
        assert registry.assign_cadre(session, household_id=flat.id, user_id=cadre.id)
        assert not registry.assign_cadre(session, household_id=flat.id, user_id=cadre.id)
        assert registry.cadres_of(session, [flat.id]) == {flat.id: [cadre]}
        assert registry.unassign_cadre(session, household_id=flat.id, user_id=cadre.id)
        assert not registry.unassign_cadre(session, household_id=flat.id, user_id=cadre.id)
        assert registry.add_manager(session, building_id=building.id, user_id=manager.id)
        assert registry.managed_buildings(session, manager.id) == [building.id]
        assert registry.managers_of(session, [building.id]) == {building.id: [manager]}
        assert registry.remove_manager(session, building_id=building.id, user_id=manager.id)
        registry.delete_resident(session, resident)
        assert registry.residents_of(session, flat.id) == []
