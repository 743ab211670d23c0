"""The cadres' web page: sign-in, my open alerts, a household's status, and the live-update stream.

Server-rendered HTML with a little JavaScript; the buttons call the JSON API with the sign-in
cookie. These routes are the page, not the API, so they are left out of the OpenAPI schema.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from api.access import scope_for
from api.deps import (
    SESSION_COOKIE,
    DatabaseDep,
    NowDep,
    ReadingsDep,
    SessionDep,
    SettingsDep,
    TimezoneDep,
)
from api.paths import MAX_ID  # larger ids match no record; PostgreSQL would refuse to compare with them
from api.settings import Settings
from api.web import service
from api.web.csrf import same_origin
from api.web.i18n import LANGS, pick_lang, translator
from api.web.live import LiveOptions, alert_events
from store.db import Database
from store.errors import NotFound
from store.models import Outcome, User
from store.users import user_for_password, user_for_token
from store.web_sessions import end_session, start_session, user_for_session

HERE = Path(__file__).parent
LANG_COOKIE = "anxin_lang"
_templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                         trim_blocks=True, lstrip_blocks=True)

router = APIRouter(include_in_schema=False)


def _user(request: Request, session, now: datetime) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    return user_for_session(session, token, now=now) if token else None


def _render(request: Request, template: str, *, status: int = 200, user: User | None = None,
            tz: ZoneInfo | None = None, now: datetime | None = None, **context) -> HTMLResponse:
    """Render ``template`` in the page's language, remembering a language asked for in ``?lang=``."""
    asked = request.query_params.get("lang")
    lang = pick_lang(asked, request.cookies.get(LANG_COOKIE))
    tz = tz or request.app.state.settings.tz

    def when(moment: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
        return "" if moment is None else moment.astimezone(tz).strftime(pattern)

    html = _templates.get_template(template).render(
        t=translator(lang), lang=lang, other_lang=next(x for x in LANGS if x != lang), user=user, now=now,
        when=when, outcomes=list(Outcome), path=request.url.path, **context,
    )
    response = HTMLResponse(html, status_code=status)
    if asked in LANGS:
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/login")
def login_page(request: Request, session: SessionDep, now: NowDep) -> Response:
    if _user(request, session, now) is not None:
        return RedirectResponse("/", status_code=303)
    return _render(request, "login.html")


def _sign_in(db: Database, settings: Settings, now: datetime, form: dict[str, str]) -> tuple[str | None, str | None]:
    """The new session's token, or the key of the message that says why there is none."""
    with db.session() as session:
        if form.get("token"):
            user, failed = user_for_token(session, form["token"]), "login.bad_token"
        elif form.get("name") and form.get("password"):
            user, failed = user_for_password(session, form["name"], form["password"]), "login.failed"
        else:
            return None, "login.empty"
        if user is None:
            return None, failed
        return start_session(session, user=user, now=now, days=settings.web_session_days), None


@router.post("/login")
async def login(request: Request, db: DatabaseDep, settings: SettingsDep, now: NowDep) -> Response:
    if not same_origin(request):
        return _render(request, "login.html", status=403, error="login.cross_site")
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    form = {name: values[0].strip() for name, values in fields.items() if name in ("name", "password", "token")}
    # scrypt takes a few tens of milliseconds: not on the event loop.
    token, error = await run_in_threadpool(_sign_in, db, settings, now, form)
    if token is None:
        return _render(request, "login.html", status=401, error=error, name=form.get("name", ""))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.web_session_days * 86400), httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and same_origin(request):
        end_session(session, token)
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, tz: TimezoneDep) -> Response:
    user = _user(request, session, now)
    if user is None:
        return _to_login()
    scope = scope_for(session, user, pseudonym_key=settings.pseudonym_key)
    cards, total = service.open_alerts(session, scope=scope)
    return _render(request, "home.html", user=user, tz=tz, now=now, cards=cards, total=total,
                   src="/fragments/alerts")


@router.get("/fragments/alerts")
def alerts_fragment(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, tz: TimezoneDep,
    readings: ReadingsDep, household: Annotated[int | None, Query()] = None,
) -> Response:
    """The alert list alone, for the page's script to swap in when the stream says it changed."""
    user = _user(request, session, now)
    if user is None:
        return HTMLResponse("", status_code=401)
    scope = scope_for(session, user, pseudonym_key=settings.pseudonym_key)
    if household is None:
        cards, total = service.open_alerts(session, scope=scope)
    else:
        try:
            if household > MAX_ID:
                raise NotFound(f"household {household} does not exist")
            status = service.household_status(session, scope=scope, readings=readings, household_id=household,
                                              now=now, tz=tz)
        except NotFound:
            return HTMLResponse("", status_code=404)
        cards, total = status.alerts, len(status.alerts)
    return _render(request, "_alerts.html", user=user, tz=tz, now=now, cards=cards, total=total,
                   empty=None if household is None else "household.no_alerts")


@router.get("/households/{household_id}")
def household_page(
    request: Request, household_id: int, session: SessionDep, settings: SettingsDep, now: NowDep, tz: TimezoneDep,
    readings: ReadingsDep,
) -> Response:
    user = _user(request, session, now)
    if user is None:
        return _to_login()
    scope = scope_for(session, user, pseudonym_key=settings.pseudonym_key)
    try:
        if household_id > MAX_ID:
            raise NotFound(f"household {household_id} does not exist")
        status = service.household_status(session, scope=scope, readings=readings, household_id=household_id,
                                          now=now, tz=tz)
    except NotFound:
        return _render(request, "not_found.html", status=404, user=user, message="household.not_found")
    return _render(request, "household.html", user=user, tz=tz, now=now, household=status, cards=status.alerts,
                   total=len(status.alerts), src=f"/fragments/alerts?household={household_id}",
                   empty="household.no_alerts")


@router.get("/events")
async def events(request: Request, db: DatabaseDep, settings: SettingsDep) -> Response:
    """Server-sent events: ``alerts`` whenever the user's open alerts change (see ``api.web.live``)."""
    token = request.cookies.get(SESSION_COOKIE)
    clock = request.app.state.clock

    def check():
        with db.session() as session:
            user = user_for_session(session, token, now=clock()) if token else None
            if user is None:
                return None
            return service.fingerprint(session, scope=scope_for(session, user, pseudonym_key=settings.pseudonym_key))

    if await run_in_threadpool(check) is None:
        return HTMLResponse("", status_code=401)
    stream = alert_events(check=check, disconnected=request.is_disconnected, options=request.app.state.live)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def mount(app: FastAPI, *, live: LiveOptions | None = None) -> None:
    """Serve the page at ``/`` and its script and style at ``/static``."""
    app.state.live = live or LiveOptions()
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
