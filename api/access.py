"""Who sees what: each user's slice of the data, enforced in the service layer.

=====================  ===========================================================================
``admin``              everything, in every community, including meters linked to no household
``secretary``          everything in her community
``cadre``              the households assigned to her (all of her community's if the community is
                       set so), their residents, meters and alerts
``property_manager``   the meters of the households in his buildings and their alerts; no residents
``analyst``            read-only, pseudonymous: readings and alert outcomes of her community (every
                       community if she has none), no personal data
=====================  ===========================================================================

Service functions take a ``Scope`` and filter with it; a record outside it is reported as not
found, so a token from one community cannot even learn that another community's record exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import Session

from store.errors import NotFound
from store.pseudonyms import pseudonym
from store.models import (
    FLEET,
    Alert,
    Building,
    BuildingManager,
    Community,
    Household,
    HouseholdCadre,
    MeterLink,
    Role,
    User,
)


@dataclass(frozen=True, slots=True)
class Scope:
    """One user's slice. ``households`` is a query of the household ids she may see (None: all)."""

    user: User
    households: Select | None
    community_id: int | None  # her community, None for admins and analysts of every community
    personal_data: bool  # residents' names, phones and notes, and what people wrote on alerts
    pseudonymous: bool  # meters and households are shown by pseudonym (analysts)
    sees_unlinked: bool  # meters that serve no household, and their alerts (admins)
    sees_fleet: bool  # fleet outages: the pipeline, not a household, so no household's data
    pseudonym_key: str = ""  # the key of the pseudonyms, for analysts

    def show_meter(self, meter_id: str) -> str:
        """The meter id as this user may see it: a pseudonym for analysts (the fleet's ``*`` stays)."""
        if not self.pseudonymous or meter_id == FLEET:
            return meter_id
        return pseudonym(meter_id, key=self.pseudonym_key)

    def show_household(self, household_id: int | None) -> str | None:
        """A household's id as text, or its pseudonym for analysts."""
        if household_id is None:
            return None
        return pseudonym(str(household_id), key=self.pseudonym_key, prefix="h") if self.pseudonymous \
            else str(household_id)

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    def household_visible(self, column) -> ColumnElement[bool]:
        """A condition on a household id column: true where this user may see the household."""
        return true() if self.households is None else column.in_(self.households)

    def alert_visible(self) -> ColumnElement[bool]:
        """A condition on ``Alert``: the alerts this user may see."""
        if self.households is None and self.sees_unlinked:
            return true()
        parts = [Alert.household_id.in_(self.households) if self.households is not None
                 else Alert.household_id.is_not(None)]
        if self.sees_fleet:
            parts.append(Alert.meter_id == FLEET)
        return or_(*parts)

    def meters(self) -> Select | None:
        """A query of the meter ids this user may see (every meter that served a visible household);
        None: every meter."""
        if self.households is None and self.sees_unlinked:
            return None
        query = select(MeterLink.meter_id)
        if self.households is not None:
            query = query.where(MeterLink.household_id.in_(self.households))
        return query.distinct()

    def meter_visible(self, column) -> ColumnElement[bool]:
        meters = self.meters()
        return true() if meters is None else column.in_(meters)

    def ensure_meter(self, session: Session, meter_id: str) -> None:
        """NotFound unless this user may see ``meter_id``."""
        meters = self.meters()
        if meters is None:
            return
        if session.scalar(select(MeterLink.id).where(MeterLink.meter_id == meter_id,
                                                     MeterLink.meter_id.in_(meters)).limit(1)) is None:
            raise NotFound(f"meter {meter_id!r} is not one of yours; GET /api/v1/meters lists the meters you may see")

    def ensure_household(self, session: Session, household_id: int) -> None:
        """NotFound unless this user may see ``household_id``."""
        query = select(Household.id).where(Household.id == household_id)
        if self.households is not None:
            query = query.where(Household.id.in_(self.households))
        if session.scalar(query) is None:
            raise NotFound(f"household {household_id} is not one of yours; GET /api/v1/households lists yours")


def _community_households(community_id: int) -> Select:
    return select(Household.id).join(Building, Building.id == Household.building_id).where(
        Building.community_id == community_id
    )


def scope_for(session: Session, user: User, *, pseudonym_key: str = "") -> Scope:
    """The slice of data ``user`` may see; analysts see meters and households under ``pseudonym_key``."""
    role = Role(user.role)
    if role == Role.admin:
        return Scope(user, None, None, personal_data=True, pseudonymous=False, sees_unlinked=True, sees_fleet=True)
    community_id = user.community_id
    if community_id is None:
        if role == Role.analyst:  # an analyst of every community
            return Scope(user, None, None, personal_data=False, pseudonymous=True, sees_unlinked=False,
                         sees_fleet=True, pseudonym_key=pseudonym_key)
        # A user of no community sees nothing but fleet outages; `anxin users create` asks for one.
        return Scope(user, select(Household.id).where(false()), None, personal_data=False, pseudonymous=False,
                     sees_unlinked=False, sees_fleet=False)
    if role == Role.secretary:
        households = _community_households(community_id)
    elif role == Role.cadre:
        community = session.get(Community, community_id)
        if community is not None and community.cadres_see_all:
            households = _community_households(community_id)
        else:
            households = select(HouseholdCadre.household_id).where(HouseholdCadre.user_id == user.id)
    elif role == Role.property_manager:
        households = select(Household.id).join(BuildingManager, BuildingManager.building_id == Household.building_id) \
            .where(BuildingManager.user_id == user.id)
    else:  # analyst
        households = _community_households(community_id)
    return Scope(
        user,
        households,
        community_id,
        personal_data=role in (Role.secretary, Role.cadre),
        pseudonymous=role == Role.analyst,
        sees_unlinked=False,
        # Everyone in a community sees a fleet outage: while it lasts, no alert can come from her meters.
        sees_fleet=True,
        pseudonym_key=pseudonym_key,
    )
