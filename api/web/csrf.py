"""Cross-site request forgery: a cookie-signed-in browser's unsafe requests must come from our own pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

CROSS_SITE = (
    "this request came with the sign-in cookie but not from anxin's own page (its Origin or Referer does not "
    "match the host); use the buttons on the page, or send 'Authorization: Bearer <token>' instead of the cookie"
)


def same_origin(request: Request) -> bool:
    """Whether an unsafe request says it comes from a page of this host (Origin, else Referer).

    A request that says neither is refused: every browser that sends our cookie sends one of them
    on a POST, so only forged or non-browser requests lack both, and those should use a token.
    """
    if request.method in SAFE_METHODS:
        return True
    host = request.headers.get("host")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not host or not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == host.lower()
