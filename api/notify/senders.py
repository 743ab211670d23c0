"""Sending one delivery over HTTP, and saying in words why it failed.

A generic webhook succeeds on any 2xx answer; a WeCom or DingTalk robot answers 200 even when it
refuses, so it succeeds only on ``{"errcode": 0}``.
"""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from api.notify.formats import dingtalk_url
from store.times import to_ms


class SendFailed(Exception):
    """The receiver did not take the notice; the message (stored as ``last_error``) says why."""


def send(client: httpx.Client, *, kind: str, url: str, secret: str | None, payload: str, now: datetime) -> None:
    """POST ``payload`` (JSON text) to the channel; raises SendFailed unless it was accepted.

    The messages never quote the URL: a robot's URL holds its key.
    """
    if kind == "dingtalk":
        # Signed as it is sent: DingTalk refuses a signature more than an hour old.
        url = dingtalk_url(url, secret, to_ms(now))
    try:
        response = client.post(url, content=payload.encode(), headers={"Content-Type": "application/json"})
    except httpx.TimeoutException as exc:
        raise SendFailed(f"no answer within {client.timeout.read or client.timeout.connect} s "
                         f"({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise SendFailed(f"could not reach the receiver: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise SendFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    if kind in ("wecom", "dingtalk"):
        _check_errcode(kind, response)


def _check_errcode(kind: str, response: httpx.Response) -> None:
    try:
        answer = response.json()
    except json.JSONDecodeError as exc:
        raise SendFailed(f"the {kind} robot's answer is not JSON: {response.text[:200]!r}") from exc
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        message = answer.get("errmsg", "") if isinstance(answer, dict) else ""
        hint = ""
        if kind == "dingtalk" and code == 310000:
            hint = " (check the robot's signing secret, keywords and IP list in DingTalk)"
        raise SendFailed(f"the {kind} robot refused it: errcode {code}: {message}{hint}")
