"""``POST /api/notifications/``: other services notify users over HTTP.

Authorized by a publisher JWT (``Authorization: Bearer``, the hub's publisher key) whose
``mercure.publish`` claim allows every recipient's notification topic (or ``*``), or by a
staff member's session (then Django's CSRF check applies). The body is JSON:
``{"recipients": ["alice", ...] | "group": "name", "title": ..., "body": ..., "url": ...,
"level": ...}``. Answers 201 ``{"ids": [...]}``; errors answer ``{"error": "<reason>"}``
with 400 (malformed), 401 (missing or bad token), 403 (not allowed), 404 (unknown user or
group) or 413 (too large).
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import hubbub
from hubbub.discovery import hub_url

from .sending import InvalidNotification, clean_fields, notify
from .topics import user_topic
from .usernames import UnknownUsers, users_named

MAX_BODY_BYTES = 64 * 1024
MAX_RECIPIENTS = 1000
FIELDS = {"recipients", "group", "title", "body", "url", "level"}


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def _error(error: ApiError) -> JsonResponse:
    response = JsonResponse({"error": str(error)}, status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def _publish_claim(request: HttpRequest) -> hubbub.SelectorSet | None:
    """The selectors the caller may notify; None for a staff session (anyone)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "the Authorization header must be 'Bearer <token>'")
        try:
            allowed = hubbub.verify_token(token.strip(), publish=True, hub_url=hub_url(request))
        except hubbub.InvalidToken as error:
            raise ApiError(401, str(error)) from None
        if allowed is None:
            raise ApiError(403, "the token carries no mercure.publish claim")
        return allowed
    if not request.user.is_authenticated:
        raise ApiError(401, "a publisher JWT (Authorization: Bearer) or a staff session is required")
    if not request.user.is_staff:
        raise ApiError(403, "only staff members may send notifications with a session")
    # No view: the API's own is csrf_exempt (a token needs no CSRF protection), a session does.
    reason = _CsrfCheck(HttpResponse).process_view(request, None, (), {})  # type: ignore[arg-type]
    if reason:
        raise ApiError(403, f"CSRF verification failed: {reason}")
    return None


def _payload(request: HttpRequest) -> dict:
    declared = request.META.get("CONTENT_LENGTH", "")
    # ASCII digits only: int() takes "²" and other scripts' digits too, and refuses over 4300 of them.
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_BODY_BYTES):
        raise ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if request.content_type != "application/json":
        raise ApiError(400, "the request body must be JSON (Content-Type: application/json)")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid UTF-8") from None
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise ApiError(400, f"malformed JSON: {error}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the JSON body must be an object")
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
    return payload


def _recipients(payload: dict) -> list:
    if ("recipients" in payload) == ("group" in payload):
        raise ApiError(400, 'give either "recipients" (a list of usernames) or "group" (a group name)')
    User = get_user_model()
    if "group" in payload:
        name = payload["group"]
        if not isinstance(name, str) or not name:
            raise ApiError(400, '"group" must be a non-empty string')
        if "\x00" in name:
            raise ApiError(400, '"group" must not contain NUL characters')
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise ApiError(404, f"no group named {name!r}")
        users = list(User.objects.filter(groups=group).order_by("pk")[: MAX_RECIPIENTS + 1])
    else:
        names = payload["recipients"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ApiError(400, '"recipients" must be a non-empty list of usernames')
        if any("\x00" in n for n in names):
            raise ApiError(400, '"recipients" must not contain NUL characters')
        names = list(dict.fromkeys(names))
        if len(names) > MAX_RECIPIENTS:
            raise ApiError(413, f"more than {MAX_RECIPIENTS} recipients")
        try:
            users = users_named(names)
        except UnknownUsers as error:
            raise ApiError(404, str(error)) from error
    if len(users) > MAX_RECIPIENTS:
        raise ApiError(413, f"more than {MAX_RECIPIENTS} recipients")
    return users


@csrf_exempt  # a token needs no CSRF protection; a session is checked in _publish_claim
@require_POST
def create_notifications(request: HttpRequest) -> JsonResponse:
    try:
        allowed = _publish_claim(request)
        payload = _payload(request)
        try:
            fields = clean_fields(
                payload.get("title", ""), payload.get("body", ""), payload.get("url", ""), payload.get("level", "info")
            )
        except InvalidNotification as error:
            raise ApiError(400, str(error)) from None
        users = _recipients(payload)
        if allowed is not None:
            refused = [user_topic(u) for u in users if not allowed.match(user_topic(u))]
            if refused:
                raise ApiError(403, "the token does not allow publishing to " + ", ".join(refused[:10]))
        created = notify(users, *fields)
    except ApiError as error:
        return _error(error)
    return JsonResponse({"ids": [n.pk for n in created]}, status=201)
