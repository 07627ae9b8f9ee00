"""Discovery: the hub's ``Link`` header (middleware, decorator, ``add_link``) and ``{% mercure_link %}``."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template import Context, RequestContext, Template
from django.urls import path

import hubbub
from hubbub import _history as history
from hubbub._updates import Update
from hubbub.discovery import DiscoveryMiddleware, add_link, hub_url, link_header, mercure_discovery, position

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

HOSTILE = 'urn:x:"><script>alert(1)</script>\\'


def store(*ids: str) -> None:
    history.store([Update.create("/discovery", "x", id=event_id) for event_id in ids])


def link_of(response) -> str:
    return response.headers.get("Link", "")


# Views served through the test settings' MIDDLEWARE (the example site's), which has DiscoveryMiddleware.


def page(request):
    store("during-the-view")  # published while the view runs: after the page's position
    return HttpResponse("<p>page</p>")


async def async_page(request):
    await hubbub.apublish("/discovery", "x", id="during-the-async-view")
    return HttpResponse("<p>page</p>")


def tagged_page(request):
    store("during-the-view")
    return HttpResponse(Template("{% load hubbub %}{% mercure_link %}").render(RequestContext(request)))


def api(request):
    return JsonResponse({"ok": True})


def linked_data(request):
    return HttpResponse("{}", content_type="application/ld+json; charset=utf-8")


def text(request):
    return HttpResponse("plain", content_type="text/plain")


def stream(request):
    return StreamingHttpResponse(iter(["<p>", "</p>"]), content_type="text/html")


def download(request):
    return FileResponse(io.BytesIO(b"<p>file</p>"), content_type="text/html")


def missing(request):
    return HttpResponse("<p>gone</p>", status=404)


def preloading(request):
    response = HttpResponse("<p>page</p>")
    response.headers["Link"] = '</static/site.css>; rel="preload"; as="style"'
    return response


def own_hub(request):
    response = HttpResponse("<p>page</p>")
    response.headers["Link"] = "<https://hub.example.com/.well-known/mercure>; rel=mercure"
    return response


def form(request):
    return HttpResponse("<form></form>")


urlpatterns = [
    path("page/", page),
    path("async-page/", async_page),
    path("tagged/", tagged_page),
    path("api/", api),
    path("linked-data/", linked_data),
    path("text/", text),
    path("stream/", stream),
    path("download/", download),
    path("missing/", missing),
    path("preloading/", preloading),
    path("own-hub/", own_hub),
    path("form/", form),
]


# The header value


def test_the_header_names_the_hub_by_its_absolute_url_and_the_current_position(rf, settings):
    settings.ALLOWED_HOSTS = ["example.com", "testserver"]
    request = rf.get("/books/", HTTP_HOST="example.com", secure=True)
    assert link_header(request) == '<https://example.com/.well-known/mercure>; rel="mercure"; last-event-id="earliest"'
    store("urn:uuid:1", "urn:uuid:2")
    assert hub_url(rf.get("/", HTTP_HOST="example.com")) == "http://example.com/.well-known/mercure"
    assert link_header(rf.get("/")).endswith('; rel="mercure"; last-event-id="urn:uuid:2"')


def test_the_position_is_taken_once_per_request(rf):
    request = rf.get("/")
    assert position(request) == "earliest"
    store("later")
    assert link_header(request).endswith('last-event-id="earliest"')
    assert link_header(rf.get("/")).endswith('last-event-id="later"')


def test_a_hostile_id_is_quoted_with_its_quotes_and_backslashes_escaped(rf):
    store(HOSTILE)
    assert link_header(rf.get("/")).endswith(r'; last-event-id="urn:x:\"><script>alert(1)</script>\\"')


def test_an_id_a_header_cannot_carry_is_sent_percent_encoded_in_the_utf8_form(rf):
    store("urn:x:café latte")
    assert link_header(rf.get("/")).endswith("; last-event-id*=UTF-8''urn%3Ax%3Acaf%C3%A9%20latte")
    response = add_link(HttpResponse(), rf.get("/"))
    assert response.serialize_headers().decode("ascii").count("last-event-id*=UTF-8''urn%3Ax%3Acaf%C3%A9%20latte") == 1


def test_a_given_position_is_used_as_is(rf):
    store("newer")
    assert link_header(rf.get("/"), last_event_id="older").endswith('last-event-id="older"')


def test_the_hub_is_under_the_script_prefix(rf, settings):
    assert hub_url(rf.get("/", SCRIPT_NAME="/site")) == "http://testserver/site/.well-known/mercure"
    settings.FORCE_SCRIPT_NAME = "/forced/"
    assert hub_url(rf.get("/", SCRIPT_NAME="/site")) == "http://testserver/forced/.well-known/mercure"


def test_through_the_handler_the_script_name_prefixes_the_hub(client):
    response = client.get("/page/", SCRIPT_NAME="/site")
    assert link_of(response).startswith('<http://testserver/site/.well-known/mercure>; rel="mercure"')


# The middleware


def test_the_middleware_links_a_page_from_the_position_before_the_view(client):
    store("before")
    response = client.get("/page/")
    assert link_of(response) == '<http://testserver/.well-known/mercure>; rel="mercure"; last-event-id="before"'
    assert hubbub.last_event_id() == "during-the-view"  # replayed to the page's subscriber, not missed


async def test_the_middleware_links_an_async_page_from_the_position_before_the_view(async_client):
    response = await async_client.get("/async-page/")
    assert link_of(response) == '<http://testserver/.well-known/mercure>; rel="mercure"; last-event-id="earliest"'
    assert await sync_to_async(hubbub.last_event_id)() == "during-the-async-view"


def test_the_middleware_follows_its_handler_into_async_mode():
    async def get_response(request):
        return HttpResponse()

    assert iscoroutinefunction(DiscoveryMiddleware(get_response))
    assert not iscoroutinefunction(DiscoveryMiddleware(lambda request: HttpResponse()))


def test_the_page_and_its_header_give_the_same_position(client):
    store("before")
    response = client.get("/tagged/")
    assert link_of(response).endswith('last-event-id="before"')
    assert response.content.decode() == '<link rel="mercure" href="/.well-known/mercure" data-last-event-id="before">'


@pytest.mark.parametrize("url", ["/api/", "/linked-data/"])
def test_json_answers_are_linked(client, url):
    assert 'rel="mercure"; last-event-id="earliest"' in link_of(client.get(url))


@pytest.mark.parametrize("url", ["/text/", "/stream/", "/download/", "/missing/"])
def test_other_answers_are_left_alone(client, url):
    response = client.get(url)
    assert "Link" not in response.headers
    if response.streaming:
        b"".join(response.streaming_content)


def test_answers_to_other_methods_are_left_alone(client):
    assert "Link" not in client.post("/form/").headers
    assert 'rel="mercure"' in link_of(client.head("/form/"))


def test_an_existing_link_header_is_kept_and_the_hub_appended(client):
    assert link_of(client.get("/preloading/")) == (
        '</static/site.css>; rel="preload"; as="style", '
        '<http://testserver/.well-known/mercure>; rel="mercure"; last-event-id="earliest"'
    )


def test_a_hub_the_view_named_itself_is_not_doubled(client):
    assert link_of(client.get("/own-hub/")) == "<https://hub.example.com/.well-known/mercure>; rel=mercure"


def test_a_rel_list_naming_the_hub_counts_and_a_lookalike_does_not(rf):
    named = HttpResponse()
    named.headers["Link"] = '<https://hub.example.com/>; rel="alternate MERCURE"'
    assert add_link(named, rf.get("/")).headers["Link"] == '<https://hub.example.com/>; rel="alternate MERCURE"'
    lookalike = HttpResponse()
    lookalike.headers["Link"] = '<https://example.com/>; rel="mercure-docs"; title="rel=mercure"'
    assert add_link(lookalike, rf.get("/")).headers["Link"].count("/.well-known/mercure>") == 1


# The decorator


def test_the_decorator_links_a_sync_view_from_the_position_before_it(rf):
    store("before")

    @mercure_discovery
    def view(request):
        store("during")
        return HttpResponse("plain", content_type="text/plain")

    response = view(rf.get("/"))
    assert link_of(response) == '<http://testserver/.well-known/mercure>; rel="mercure"; last-event-id="before"'
    assert hubbub.last_event_id() == "during"


async def test_the_decorator_links_an_async_view_from_the_position_before_it(async_rf):
    @mercure_discovery
    async def view(request, pk):
        await hubbub.apublish("/discovery", str(pk), id="during")
        return JsonResponse({"pk": pk})

    assert iscoroutinefunction(view) and view.__name__ == "view"
    response = await view(async_rf.get("/"), pk=3)
    assert link_of(response) == '<http://testserver/.well-known/mercure>; rel="mercure"; last-event-id="earliest"'
    assert await sync_to_async(hubbub.last_event_id)() == "during"


# The template tag


def test_the_tag_renders_the_hub_and_the_requests_position(rf):
    store("urn:uuid:1")
    request = rf.get("/", SCRIPT_NAME="/site")
    html = Template("{% load hubbub %}{% mercure_link %}").render(Context({"request": request}))
    assert html == '<link rel="mercure" href="/site/.well-known/mercure" data-last-event-id="urn:uuid:1">'


def test_the_tag_escapes_a_hostile_position_it_is_given(rf):
    html = Template("{% load hubbub %}{% mercure_link position %}").render(
        Context({"request": rf.get("/"), "position": HOSTILE})
    )
    assert html == (
        '<link rel="mercure" href="/.well-known/mercure" '
        'data-last-event-id="urn:x:&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\\">'
    )


def test_the_tag_without_a_request_or_a_position_takes_the_current_one():
    store("now")
    html = Template("{% load hubbub %}{% mercure_link missing %}").render(Context({}))
    assert html == '<link rel="mercure" href="/.well-known/mercure" data-last-event-id="now">'


def test_the_url_tag_gives_the_hubs_path_under_the_script_prefix(rf):
    html = Template("{% load hubbub %}{% mercure_url %}").render(
        Context({"request": rf.get("/", SCRIPT_NAME="/site/")})
    )
    assert html == "/site/.well-known/mercure"
