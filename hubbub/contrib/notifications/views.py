"""The notification centre: the list, and marking read (JSON for fetch, a redirect for plain forms)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

import hubbub
from hubbub.contrib.pages import render

from . import events
from .models import Notification
from .reading import mark_read
from .topics import user_topic

PAGE_SIZE = 20


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    # The hub position first: whatever happens after it is replayed to the page.
    position = hubbub.last_event_id()
    notifications = Notification.objects.for_user(request.user).order_by("-created", "-id")
    page = Paginator(notifications, PAGE_SIZE).get_page(request.GET.get("page"))
    unread = events.unread_count(request.user)
    newest = notifications.order_by("-pk").values_list("pk", flat=True).first() or 0
    context = {
        "page": page,
        "notifications": list(page.object_list),
        "unread_count": unread,
        "newest": newest,
        "topic": user_topic(request.user),
        "hub_last_event_id": position,
    }
    return render(request, "hubbub/notifications/list.html", context)


def _answer(request: HttpRequest, marked: list[int]) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        unread = events.unread_count(request.user)
        return JsonResponse({"ids": marked, "unread": unread})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = reverse("notifications:list")
    return redirect(target)


@login_required
@require_POST
def read_one(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Notification.objects.for_user(request.user), pk=pk)
    return _answer(request, mark_read(request.user, [pk]))


@login_required
@require_POST
def read_all(request: HttpRequest) -> HttpResponse:
    up_to = request.POST.get("up_to", "")
    # ASCII digits only (int() takes "²" and other scripts' digits too), and few enough for the database.
    if up_to and not (up_to.isascii() and up_to.isdigit() and len(up_to) <= 18):
        return HttpResponseBadRequest("up_to must be a notification id")
    return _answer(request, mark_read(request.user, up_to=int(up_to) if up_to else None))
