"""The lobby, sign-in, sign-out and the account page, the room list and the chat page with its endpoints."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages as notices
from django.contrib.auth import get_user_model, login, update_session_auth_hash, views as auth_views
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.db import IntegrityError, transaction
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import hubbub
from hubbub.contrib.pages import page_context, render

from . import (
    attachments,
    conf,
    direct,
    editing,
    events,
    formatting,
    names,
    posting,
    presence,
    ratelimit,
    reactions,
    rooms,
    search,
    signals,
    unread,
)
from .forms import LobbyForm, MemberForm, RemoveMemberForm, RoomForm, RoomSettingsForm, SignInForm
from .models import Attachment, Message, Reaction, Room
from .topics import PREFIX, ROOMS, room_topic, user_topic

View = Callable[..., HttpResponseBase]

logger = logging.getLogger(__name__)


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.content_type == "application/json"


def error_response(request: HttpRequest, status: int, reason: str) -> HttpResponse:
    """The reason in words: JSON for scripts, a page for people."""
    if wants_json(request):
        return JsonResponse({"error": reason}, status=status)
    return render(request, "hubbub/chat/error.html", {"reason": reason, "status": status}, status=status)


def too_many(response: HttpResponse, retry_after: int) -> HttpResponse:
    """``response`` (status 429) telling when to try again."""
    response["Retry-After"] = str(retry_after)
    return response


def unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    """503: a dependency (the cache of the rate limits, the hub) is down; nothing was done."""
    return error_response(request, 503, f"That was not done: {error}")


def client_address(request: HttpRequest) -> str:
    """The address limits per client count by (the server puts a trusted proxy's client there)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def signed_in(view: View) -> View:
    """Send people who are not signed in to the lobby; scripts get 401 in words."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if wants_json(request) or request.method != "GET":
            return error_response(request, 401, "Sign in first: your session has ended.")
        return auth_views.redirect_to_login(request.get_full_path(), reverse("chat:lobby"))

    return wrapper


def readable_room(request: HttpRequest, slug: str) -> Room | HttpResponse:
    room = get_object_or_404(Room, slug=slug)
    if not room.is_readable_by(request.user):
        return error_response(request, 403, f"“{room.name}” is a private room: only its members can read it.")
    return room


def in_readable_room(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Call ``view(request, room)`` for the room of the URL's slug, if the user may read it."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str) -> HttpResponse:
        room = readable_room(request, slug)
        return room if isinstance(room, HttpResponse) else view(request, room)

    return wrapper


def default_room_url() -> str:
    return reverse("chat:room", args=[conf.get("CHAT_DEFAULT_ROOM")])


def safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


# Lobby and accounts


@require_http_methods(["GET", "POST"])
def lobby(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            ratelimit.limit("CHAT_SIGNUP_RATE_LIMIT", client_address(request))
        except ratelimit.Exceeded as over:
            reason = f"Too many new guests from your address just now: wait {over.retry_after} s and try again."
            form = LobbyForm(initial={"name": request.POST.get("name", "")})
            return too_many(lobby_page(request, form, limit_error=reason, status=429), over.retry_after)
        except ratelimit.Unavailable as error:
            return unavailable(request, error)
    form = LobbyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = create_guest(form.cleaned_data["name"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        asked = names.normalize(request.POST.get("name", ""))
        if asked and asked.lower() != user.username.lower():
            notices.info(request, f"“{asked}” was taken, so you are {user.username}.")
        else:
            notices.success(request, f"Welcome, {user.username}!")
        return redirect(safe_next(request) or default_room_url())
    return lobby_page(request, form, status=400 if form.errors else 200)


def lobby_page(request: HttpRequest, form: LobbyForm, *, limit_error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "limit_error": limit_error,
        "default_room": Room.objects.filter(slug=conf.get("CHAT_DEFAULT_ROOM")).first(),
        "next": safe_next(request) or "",
    }
    if request.user.is_authenticated:
        # The hub position first: rooms announced after it are replayed to the page.
        context["hub_last_event_id"] = hubbub.last_event_id()
        context.update(room_links(request.user))
    return render(request, "hubbub/chat/lobby.html", context, status=status)


def create_guest(name: str) -> Any:
    """A new user without a password, named ``name`` or the next free variant of it."""
    users = get_user_model().objects
    for _ in range(5):
        try:
            with transaction.atomic():
                user = users.model(username=names.unique_name(name))
                user.set_unusable_password()
                user.save()
                return user
        except IntegrityError:
            continue  # someone took the same name at the same moment
    raise IntegrityError(f"no free name like {name!r}")


class SignInView(auth_views.LoginView):
    """Django's sign-in, with attempts counted per address and per account name
    (``CHAT_SIGNIN_RATE_LIMIT``): over either, 429 and the password is not even checked."""

    template_name = "hubbub/chat/signin.html"
    authentication_form = SignInForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return page_context(super().get_context_data(**kwargs))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        typed = request.POST.get("username", "")
        # Hashed: any text, of any length, makes a cache key that every backend takes.
        name = hashlib.sha256(names.normalize(typed).lower().encode()).hexdigest()[:32]
        try:
            ratelimit.limit("CHAT_SIGNIN_RATE_LIMIT", f"address:{client_address(request)}", f"name:{name}")
        except ratelimit.Exceeded as over:
            # An unbound form: a bound one would check the password when its errors are shown.
            form = self.get_form_class()(request, initial={"username": typed})
            reason = f"Too many sign-in attempts: wait {over.retry_after} s and try again."
            context = self.get_context_data(form=form, limit_error=reason)
            return too_many(self.render_to_response(context, status=429), over.retry_after)
        except ratelimit.Unavailable as error:
            return unavailable(request, error)
        return super().post(request, *args, **kwargs)

    def get_default_redirect_url(self) -> str:
        return default_room_url()


class SignOutView(auth_views.LogoutView):
    """Django's sign-out; a guest without a password is asked first (``confirm=yes``), since
    nobody can sign in with their name afterwards."""

    next_page = "chat:lobby"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user: Any = request.user
        if user.is_authenticated and not user.has_usable_password() and request.POST.get("confirm") != "yes":
            return render(request, "hubbub/chat/signout.html", {})
        return super().post(request, *args, **kwargs)


@signed_in
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Set a password: a guest (made by the lobby without one) to sign in again after
    signing out, anyone else to change theirs (which needs the current one)."""
    user: Any = request.user  # signed in
    guest = not user.has_usable_password()
    form_class = SetPasswordForm if guest else PasswordChangeForm
    form = form_class(user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        form.save()
        update_session_auth_hash(request, user)  # this session stays signed in
        if guest:
            notices.success(
                request, f"Your password is set: after signing out, sign in as {user.get_username()} with it."
            )
        else:
            notices.success(request, "Your password is changed.")
        return redirect("chat:account")
    return render(
        request, "hubbub/chat/account.html", {"form": form, "guest": guest}, status=400 if form.errors else 200
    )


# Rooms


def room_links(user: Any) -> dict[str, Any]:
    """The context of ``chat/_room_links.html``: the rooms ``user`` may read (direct
    conversations apart, named after the others), each with its unread state (``unread_state``,
    JSON, for the rooms they have viewed), and the topics that announce rooms joining (or
    leaving) that list and the user's read markers while the page is open."""
    readable = list(Room.objects.readable_by(user).filter(archived=False).prefetch_related("members"))
    states = unread.states(user, readable)
    for room in readable:
        if room.pk in states:
            room.unread_state = json.dumps(states[room.pk])  # type: ignore[attr-defined]
            room.unread_count = states[room.pk]["unread"]  # type: ignore[attr-defined]
    return {
        "rooms": [room for room in readable if not room.is_direct],
        "direct_rooms": sorted(
            ((room, room.title_for(user)) for room in readable if room.is_direct), key=lambda pair: pair[1].lower()
        ),
        "rooms_topic": ROOMS,
        "user_topic": user_topic(user),
        "room_topic_prefix": PREFIX,
    }


@signed_in
@require_http_methods(["GET", "POST"])
def room_list(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = rooms.create(form.cleaned_data["name"], request.user, private=form.cleaned_data["is_private"])
        if not room.is_private:
            try:
                events.room_opened(room)
            except hubbub.HubbubError as error:
                # The room exists: open pages list it when they next load.
                logger.warning("chat: room %s was not announced live: %s", room.slug, error)
        notices.success(request, f"Room “{room.name}” created.")
        return redirect(room)
    # The hub position first: rooms announced after it are replayed to the page.
    context = {
        "form": form,
        "hub_last_event_id": hubbub.last_event_id(),
        **room_links(request.user),
        "archived_rooms": Room.objects.readable_by(request.user).filter(archived=True),
    }
    return render(request, "hubbub/chat/rooms.html", context, status=400 if form.errors else 200)


def last_page(room: Room, before: int | None = None) -> tuple[list[Message], bool]:
    """One page of the room's messages, oldest first, ending before ``before``; and whether older ones exist."""
    size = conf.get("CHAT_PAGE_SIZE")
    query = room.messages.visible().select_related("author", "room", "attachment").order_by("-id")
    if before is not None:
        query = query.filter(id__lt=before)
    page = list(query[: size + 1])
    return page[:size][::-1], len(page) > size


def next_page(room: Room, after: int) -> tuple[list[Message], bool]:
    """One page of the room's messages after ``after``, oldest first; and whether newer ones exist."""
    size = conf.get("CHAT_PAGE_SIZE")
    query = room.messages.visible().select_related("author", "room", "attachment").filter(id__gt=after)
    page = list(query.order_by("id")[: size + 1])
    return page[:size], len(page) > size


def page_around(room: Room, around: int) -> tuple[list[Message], bool, bool]:
    """A page of the room's messages with ``around`` (a message id) in its middle, oldest first;
    whether older ones exist, and whether newer ones do (then the page does not reach the latest)."""
    size = conf.get("CHAT_PAGE_SIZE")
    older_count = size // 2 + 1  # the message itself among the older
    query = room.messages.visible().select_related("author", "room", "attachment")
    older = list(query.filter(id__lte=around).order_by("-id")[: older_count + 1])
    has_older, older = len(older) > older_count, older[:older_count]
    newer_count = size - len(older)  # near the start, more of the newer ones
    newer = list(query.filter(id__gt=around).order_by("id")[: newer_count + 1])
    return older[::-1] + newer[:newer_count], has_older, len(newer) > newer_count


def message_id_param(value: str) -> int | None:
    """A message id from a query parameter: ASCII digits only (int() takes "²" and other scripts'
    digits too), and few enough for the database; None otherwise."""
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


@signed_in
@require_GET
def room_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The room with its latest page of messages; ``?around=<id>``: the page with that message
    (a search result's permalink), newer ones loaded on scrolling down."""
    around_param = request.GET.get("around", "")
    around = message_id_param(around_param) if around_param else None
    if around_param and around is None:
        return error_response(request, 400, "“around” must be a message id (a positive whole number).")
    return render_room(request, slug, around=around)


def render_room(
    request: HttpRequest,
    slug: str,
    *,
    text: str = "",
    error: str = "",
    status: int = 200,
    around: int | None = None,
) -> HttpResponse:
    # The hub position first: whatever is published after it is replayed to the page.
    hub_last_event_id = hubbub.last_event_id()
    room = readable_room(request, slug)
    if isinstance(room, HttpResponse):
        return room
    if around is None:
        page, has_more = last_page(room)
        has_newer = False
    else:
        page, has_more, has_newer = page_around(room, around)
    # The time before reading the lists sent with theirs (presence, members): the page takes
    # any list read later, and a change after its read sends a later one.
    server_time = events.now_ms()
    # Read after that time, as a later set of reactions is (``reactions``).
    summaries = Reaction.objects.summaries(message.pk for message in page)
    for message in page:
        message.reactions_json = json.dumps(summaries[message.pk], ensure_ascii=False)  # type: ignore[attr-defined]
    context = {
        **room_links(request.user),
        "room": room,
        "room_title": room.title_for(request.user),
        "topic": room_topic(room.slug),
        "hub_last_event_id": hub_last_event_id,
        "chat_messages": page,
        "has_more": has_more,
        "has_newer": has_newer,
        "around": around,
        "present": presence.present_users(room),
        "presence_every_ms": presence.heartbeat_ms(),
        "members": room.member_names() if room.is_private else None,
        "member_form": MemberForm() if room.is_private and not room.is_direct else None,
        "manages": room.is_managed_by(request.user),
        "settings_form": RoomSettingsForm(initial={"name": room.name, "topic": room.topic}),
        "server_time": server_time,
        "max_length": conf.get("CHAT_MAX_MESSAGE_LENGTH"),
        "emoji": Reaction.EMOJI,
        "last_read": unread.last_read(request.user, room),
        "max_upload_bytes": conf.get("CHAT_MAX_UPLOAD_BYTES"),
        "text": text,
        "error": error,
    }
    return render(request, "hubbub/chat/room.html", context, status=status)


@signed_in
@require_http_methods(["GET", "POST"])
def room_messages(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: a page of history as JSON (``?before=<id>``, or the newer page ``?after=<id>``, where
    ``has_more`` says whether there are newer still). POST: post a message."""
    if request.method == "POST":
        return post_message(request, slug)
    room = readable_room(request, slug)
    if isinstance(room, HttpResponse):
        return room
    before_param, after_param = request.GET.get("before", ""), request.GET.get("after", "")
    if before_param and after_param:
        return JsonResponse({"error": "Send “before” (older messages) or “after” (newer ones), not both."}, status=400)
    if after_param:
        after = message_id_param(after_param)
        if after is None:
            return JsonResponse({"error": "“after” must be a message id (a positive whole number)."}, status=400)
        page, has_more = next_page(room, after)
    else:
        before = None
        if before_param:
            before = message_id_param(before_param)
            if before is None:
                return JsonResponse({"error": "“before” must be a message id (a positive whole number)."}, status=400)
        page, has_more = last_page(room, before)
    at = events.now_ms()  # before reading the reactions, as their events
    summaries = Reaction.objects.summaries(message.pk for message in page)
    data = [{**events.message_data(message), "reactions": summaries[message.pk]} for message in page]
    return JsonResponse({"messages": data, "has_more": has_more, "at": at})


def post_message(request: HttpRequest, slug: str) -> HttpResponse:
    text = text_field(request)
    if isinstance(text, HttpResponse):
        return text
    room = get_object_or_404(Room, slug=slug)
    try:
        message = posting.post(room, request.user, text, request.FILES.get("file"))
    except posting.PostRefused as refused:
        if wants_json(request) or refused.status == 403:
            return refused_response(request, refused)
        return refused_response(
            request, refused, render_room(request, slug, text=text, error=refused.reason, status=refused.status)
        )
    if wants_json(request):
        return JsonResponse({"message": events.message_data(message)}, status=201)
    return redirect_see_other(message.get_absolute_url())


def refused_response(
    request: HttpRequest, refused: posting.PostRefused, response: HttpResponse | None = None
) -> HttpResponse:
    """What a refused write answers (``response``, by default the error in words), with
    ``Retry-After`` when a rate limit refused it."""
    if response is None:
        response = error_response(request, refused.status, refused.reason)
    return too_many(response, refused.retry_after) if refused.retry_after is not None else response


def shown_message(request: HttpRequest, slug: str, message_id: int) -> Message | HttpResponse:
    """The room's message of that id, unless deleted (404), if the user may read the room (else 403)."""
    room = readable_room(request, slug)
    if isinstance(room, HttpResponse):
        return room
    message = None
    if message_id < 2**63:  # what a database's id can hold; the URL takes any number
        message = room.messages.visible().select_related("author", "room").filter(pk=message_id).first()
    if message is None:
        return error_response(request, 404, f"“{room.name}” has no message {message_id}: it may have been deleted.")
    return message


def text_field(request: HttpRequest) -> str | HttpResponse:
    """The ``text`` of a form or of a JSON body ``{"text": ...}``; 400 in words if there is none."""
    if request.content_type == "application/json":
        try:
            payload = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return error_response(request, 400, "The request body is not valid JSON.")
        except RecursionError:
            return error_response(request, 400, 'The request body is JSON nested too deeply: send {"text": "..."}.')
        text = payload.get("text", "") if isinstance(payload, dict) else None
    else:
        text = request.POST.get("text", "")
    if not isinstance(text, str):
        return error_response(request, 400, "Send the message as text.")
    return text


@signed_in
@require_POST
def edit_message(request: HttpRequest, slug: str, message_id: int) -> HttpResponse:
    """Its author replaces a message's text: JSON ``{"message": ...}``, or back to the room for a form."""
    message = shown_message(request, slug, message_id)
    if isinstance(message, HttpResponse):
        return message
    text = text_field(request)
    if isinstance(text, HttpResponse):
        return text
    try:
        message = editing.edit(message, request.user, text)
    except posting.PostRefused as refused:
        return refused_response(request, refused)
    except hubbub.HubbubError as error:
        return unavailable(request, error)
    if wants_json(request):
        return JsonResponse({"message": events.message_data(message)})
    return redirect_see_other(message.get_absolute_url())


@signed_in
@require_POST
def delete_message(request: HttpRequest, slug: str, message_id: int) -> HttpResponse:
    """Its author or a moderator deletes a message (kept in the database): 204, or back to the room for a form."""
    message = shown_message(request, slug, message_id)
    if isinstance(message, HttpResponse):
        return message
    try:
        editing.delete(message, request.user)
    except posting.PostRefused as refused:
        return refused_response(request, refused)
    except hubbub.HubbubError as error:
        return unavailable(request, error)
    if wants_json(request):
        return HttpResponse(status=204)
    return redirect_see_other(message.room.get_absolute_url())


@signed_in
@require_POST
def react(request: HttpRequest, slug: str, message_id: int) -> HttpResponse:
    """Toggle the user's ``emoji`` on a message: JSON ``{"added": ..., "reactions": [...], "at": ...}``."""
    message = shown_message(request, slug, message_id)
    if isinstance(message, HttpResponse):
        return message
    emoji = request.POST.get("emoji", "")
    try:
        added = reactions.toggle(message, request.user, emoji)
    except posting.PostRefused as refused:
        return refused_response(request, refused)
    except hubbub.HubbubError as error:
        return unavailable(request, error)
    at = events.now_ms()
    summary = Reaction.objects.summaries([message.pk])[message.pk]
    if wants_json(request):
        return JsonResponse({"added": added, "reactions": summary, "at": at})
    return redirect_see_other(message.get_absolute_url())


@signed_in
@require_http_methods(["GET", "POST"])
@in_readable_room
def room_read(request: HttpRequest, room: Room) -> HttpResponse:
    """GET: the user's unread state of the room (``unread.states``; null if never viewed).
    POST ``last=<message id>``: the page has shown the room up to that message; the new state."""
    if request.method == "GET":
        return JsonResponse({"state": unread.state(request.user, room)})
    last = message_id_param(request.POST.get("last", ""))
    if last is None:
        return error_response(request, 400, "Send “last”: the id of the newest message shown (a whole number).")
    try:
        state = unread.mark_read(request.user, room, last)
    except ratelimit.Exceeded as over:
        reason = f"Too many read markers for this room: wait {over.retry_after} s."
        return too_many(error_response(request, 429, reason), over.retry_after)
    except (ratelimit.Unavailable, hubbub.HubbubError) as error:
        return unavailable(request, error)
    return JsonResponse({"state": state})


def redirect_see_other(url: str) -> HttpResponse:
    response = redirect(url)
    response.status_code = 303  # See Other: show the room, do not repeat the request
    return response


def client_id(request: HttpRequest) -> str | None:
    client = request.POST.get("client", "")
    if 0 < len(client) <= 64 and client.isascii() and client.replace("-", "").isalnum():
        return client
    return None


@signed_in
@require_POST
@in_readable_room
def room_presence(request: HttpRequest, room: Room) -> HttpResponse:
    """``state=open`` (on opening, every ``presence.heartbeat_ms()`` and when shown again) or
    ``state=closed`` (on leaving), per page ``client``."""
    client = client_id(request)
    state = request.POST.get("state", "open")
    if client is None or state not in ("open", "closed"):
        return error_response(
            request, 400, "Send “client” (the page's id, up to 64 letters, digits or '-') and “state” (open or closed)."
        )
    try:
        ratelimit.limit("CHAT_PRESENCE_RATE_LIMIT", f"{request.user.pk}:{room.pk}")
    except ratelimit.Exceeded as over:
        reason = f"Too many presence reports for this room: wait {over.retry_after} s."
        return too_many(error_response(request, 429, reason), over.retry_after)
    except ratelimit.Unavailable as error:
        return unavailable(request, error)
    users = presence.update(room, request.user, client, open=state == "open")
    return JsonResponse({"users": users})


@signed_in
@require_POST
@in_readable_room
def room_typing(request: HttpRequest, room: Room) -> HttpResponse:
    """Publish a typing notice; over ``CHAT_TYPING_RATE_LIMIT`` it is dropped (pages send them
    every few seconds while typing), still 204."""
    try:
        ratelimit.limit("CHAT_TYPING_RATE_LIMIT", f"{request.user.pk}:{room.pk}")
        events.typing(room, request.user.get_username())
    except ratelimit.Exceeded:
        pass
    except (ratelimit.Unavailable, hubbub.HubbubError) as error:
        return unavailable(request, error)
    return HttpResponse(status=204)


@signed_in
@require_GET
@in_readable_room
def room_people(request: HttpRequest, room: Room) -> HttpResponse:
    """``?q=<start of a name>``: up to 8 room members whose name starts so (the composer's @ autocomplete)."""
    prefix = request.GET.get("q", "")
    if len(prefix) > 150:
        return JsonResponse({"error": "“q” is the start of a name: at most 150 characters."}, status=400)
    return JsonResponse({"people": formatting.members_starting(room, prefix)})


def fixed_members(request: HttpRequest, room: Room) -> HttpResponse | None:
    """400 in words for a room whose members cannot be added or removed (a public room, a
    direct conversation); None for a private room."""
    if not room.is_private:
        return error_response(request, 400, "Public rooms are open to everyone: they have no member list.")
    if room.is_direct:
        return error_response(request, 400, DIRECT_MEMBERS_FIXED)
    return None


@signed_in
@require_POST
@in_readable_room
def room_members(request: HttpRequest, room: Room) -> HttpResponse:
    refused = fixed_members(request, room)
    if refused is not None:
        return refused
    form = MemberForm(request.POST)
    if form.is_valid():
        user = form.cleaned_data["username"]
        if room.members.filter(pk=user.pk).exists():
            notices.info(request, f"{user.get_username()} is already a member of “{room.name}”.")
        else:
            room.members.add(user)  # their open pages are told (hubbub.contrib.chat.receivers)
            transaction.on_commit(
                lambda: signals.member_added.send(sender=Room, room=room, user=user, by=request.user), robust=True
            )
            notices.success(request, f"{user.get_username()} is now a member of “{room.name}”.")
    else:
        for error in form.errors.get("username", []):
            notices.error(request, str(error))
    return redirect(room)


@signed_in
@require_GET
def attachment_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A message's file, to those who may read its room: always a download, never shown by
    the browser as a page (an "image" that is a page or a script included)."""
    attachment = readable_attachment(request, pk)
    if isinstance(attachment, HttpResponse):
        return attachment
    return serve_stored(request, attachment.path, attachment.content_type, as_attachment=True, name=attachment.name)


@signed_in
@require_GET
def attachment_thumbnail(request: HttpRequest, pk: int) -> HttpResponseBase:
    """An image's thumbnail (made by the chat, so shown inline), to those who may read its room."""
    attachment = readable_attachment(request, pk)
    if isinstance(attachment, HttpResponse):
        return attachment
    if not attachment.thumbnail_path:
        return error_response(request, 404, f"“{attachment.name}” is not an image: it has no thumbnail.")
    content_type = "image/png" if attachment.thumbnail_path.endswith(".png") else "image/jpeg"
    return serve_stored(request, attachment.thumbnail_path, content_type, as_attachment=False, name=attachment.name)


def readable_attachment(request: HttpRequest, pk: int) -> Attachment | HttpResponse:
    """A message's file, for those who may read its room (else 403); a deleted message's is gone (404)."""
    attachment = get_object_or_404(
        Attachment.objects.select_related("message__room").filter(message__deleted_at__isnull=True), pk=pk
    )
    room = attachment.message.room
    if not room.is_readable_by(request.user):
        return error_response(request, 403, f"“{room.name}” is a private room: only its members can read it.")
    return attachment


def serve_stored(
    request: HttpRequest, path: str, content_type: str, *, as_attachment: bool, name: str
) -> HttpResponseBase:
    try:
        stored = attachments.storage().open(path, "rb")
    except FileNotFoundError:
        return error_response(request, 404, f"“{name}” is no longer stored.")
    except OSError as error:
        return unavailable(request, error)
    response = FileResponse(stored, as_attachment=as_attachment, filename=name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    # Even opened directly, nothing in it runs, and it is for this person alone.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@signed_in
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """``?q=<words>``: the messages the user may read with all of them, newest first; the form alone without."""
    query = request.GET.get("q", "")
    context: dict[str, Any] = {"query": query, "hits": None, "max_results": search.MAX_RESULTS}
    if query.strip():
        try:
            hits = search.search(request.user, query)
        except search.BadQuery as bad:
            if wants_json(request):
                return error_response(request, 400, str(bad))
            return render(request, "hubbub/chat/search.html", {**context, "error": str(bad)}, status=400)
        context["hits"] = [(hit, hit.message.room.title_for(request.user)) for hit in hits]
    return render(request, "hubbub/chat/search.html", context)


DIRECT_MEMBERS_FIXED = "The people in a direct conversation never change: start another conversation for other people."


@signed_in
@require_POST
def direct_start(request: HttpRequest) -> HttpResponse:
    """``to``: the names of the people (commas or spaces between them) to talk with, besides the
    user. Opens their direct conversation, created the first time (303 to it)."""
    wanted = [name.lstrip("@") for name in request.POST.get("to", "").replace(",", " ").split()]
    if not wanted:
        return error_response(request, 400, "Say whom to message: “to” holds their names.")
    if len(wanted) > direct.MAX_PEOPLE:
        return error_response(request, 400, f"A direct conversation is for at most {direct.MAX_PEOPLE} people.")
    others = []
    for name in wanted:
        if "\x00" in name:
            return error_response(request, 400, "A name cannot contain a NUL character (\\x00).")
        person = names.find_user(name[:150])
        if person is None:
            return error_response(request, 400, f"Nobody is called “{name[:150]}”: the conversation was not started.")
        others.append(person)
    try:
        room, _ = direct.start(request.user, others)
    except ValueError as error:
        return error_response(request, 400, str(error))
    response = redirect(room)
    response.status_code = 303
    return response


# A room's owner (or staff): name and topic, archiving, deletion, members; and leaving a room.


def managed_room(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Call ``view(request, room)`` for the room of the URL's slug if the user is its owner or
    staff; 403 in words otherwise; 503 if the hub cannot take the change (nothing is changed)."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str) -> HttpResponse:
        room = get_object_or_404(Room, slug=slug)
        if not room.is_managed_by(request.user):
            if not room.is_readable_by(request.user):
                return error_response(request, 403, f"“{room.name}” is a private room: only its members can read it.")
            return error_response(request, 403, f"Only the owner of “{room.name}” (or staff) can change it.")
        try:
            return view(request, room)
        except hubbub.HubbubError as error:
            return unavailable(request, error)

    return wrapper


@signed_in
@require_POST
@managed_room
def room_settings(request: HttpRequest, room: Room) -> HttpResponse:
    """Rename the room and set its topic; the slug, and so the room's address, stays."""
    if room.is_direct:
        reason = "Direct messages are named after the people in them: they cannot be renamed."
        return error_response(request, 400, reason)
    form = RoomSettingsForm(request.POST)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else "The form"
        return error_response(request, 400, f"{label}: {errors[0]}")
    if rooms.update(room, name=form.cleaned_data["name"], topic=form.cleaned_data["topic"]):
        notices.success(request, f"Room “{room.name}” saved.")
    return redirect(room)


@signed_in
@require_POST
@managed_room
def room_archive(request: HttpRequest, room: Room) -> HttpResponse:
    """``archived=yes``: the room becomes read-only and leaves the room lists; ``archived=no`` brings it back."""
    if room.is_direct:
        return error_response(request, 400, "Direct messages cannot be archived: delete the conversation instead.")
    archived = request.POST.get("archived", "")
    if archived not in ("yes", "no"):
        return error_response(request, 400, "Send “archived” as yes (archive the room) or no (bring it back).")
    if rooms.set_archived(room, archived == "yes"):
        notices.success(
            request, f"Room “{room.name}” {'archived: it is read-only' if room.archived else 'is open again'}."
        )
    return redirect(room)


@signed_in
@require_http_methods(["GET", "POST"])
@managed_room
def room_delete(request: HttpRequest, room: Room) -> HttpResponse:
    """GET: ask first. POST with ``confirm=yes``: delete the room and its messages."""
    if request.method == "GET":
        return render(request, "hubbub/chat/room_delete.html", {"room": room})
    if request.POST.get("confirm") != "yes":
        return error_response(request, 400, "Confirm the deletion (confirm=yes): the room was not deleted.")
    name = room.name
    rooms.delete(room)
    notices.success(request, f"Room “{name}” deleted.")
    return redirect("chat:rooms")


@signed_in
@require_POST
@managed_room
def room_remove_member(request: HttpRequest, room: Room) -> HttpResponse:
    """Take a member out of a private room: their pages lose it and their streams stop receiving it."""
    refused = fixed_members(request, room)
    if refused is not None:
        return refused
    form = RemoveMemberForm(request.POST)
    if not form.is_valid():
        return error_response(request, 400, str(form.errors["username"][0]))
    user = form.cleaned_data["username"]
    if not room.members.filter(pk=user.pk).exists():
        return error_response(request, 400, f"{user.get_username()} is not a member of “{room.name}”.")
    room.members.remove(user)  # announced, and their streams reauthorized (hubbub.contrib.chat.receivers)
    notices.success(request, f"{user.get_username()} is no longer a member of “{room.name}”.")
    return redirect(room)


@signed_in
@require_POST
@in_readable_room
def room_leave(request: HttpRequest, room: Room) -> HttpResponse:
    """Leave a private room: it leaves the member's room lists and they can no longer read it.
    A public room is open to everyone signed in: there is nothing to leave (400)."""
    if not room.is_private:
        return error_response(
            request, 400, f"“{room.name}” is a public room: anyone signed in can read it, so it cannot be left."
        )
    if room.is_direct:
        return error_response(request, 400, DIRECT_MEMBERS_FIXED)
    user: Any = request.user  # signed in
    try:
        room.members.remove(user)  # announced, and the streams reauthorized (receivers)
    except hubbub.HubbubError as error:
        return unavailable(request, error)
    notices.success(request, f"You left “{room.name}”.")
    return redirect("chat:rooms")
