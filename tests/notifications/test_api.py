import json

import pytest
from django.conf import settings
from django.test import Client

import hubbub
from hubbub.contrib.notifications.api import MAX_BODY_BYTES
from hubbub.contrib.notifications.models import Notification
from hubbub.contrib.notifications.topics import user_topic
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/notifications/"


def token(*selectors: str, key: str | None = None, **kwargs) -> str:
    return hubbub.mint_token(publish=list(selectors), key=key or settings.HUBBUB_PUBLISHER_JWT_KEY, **kwargs)


def post(payload, auth: str | None = None, client: Client | None = None, **extra):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    return (client or Client()).post(
        URL, body, content_type=extra.pop("content_type", "application/json"), **headers, **extra
    )


def bearer(*selectors: str, **kwargs) -> str:
    return f"Bearer {token(*selectors, **kwargs)}"


def test_publisher_token_creates_notifications_and_answers_201_with_ids(alice, bob):
    response = post(
        {
            "recipients": ["alice", "bob"],
            "title": "Deploy done",
            "body": "v2",
            "url": "https://ci.example/1",
            "level": "success",
        },
        bearer("*"),
    )
    assert response.status_code == 201
    ids = response.json()["ids"]
    rows = Notification.objects.filter(pk__in=ids).order_by("pk")
    assert [(n.recipient.username, n.title, n.body, n.url, n.level) for n in rows] == [
        ("alice", "Deploy done", "v2", "https://ci.example/1", "success"),
        ("bob", "Deploy done", "v2", "https://ci.example/1", "success"),
    ]
    assert sorted(topics[0] for topics, _, _ in published("notification")) == sorted(
        [user_topic(alice), user_topic(bob)]
    )


def test_token_claim_must_cover_every_recipients_topic(alice, bob):
    response = post({"recipients": ["alice"], "title": "t"}, bearer("/notifications/users/{id}"))
    assert response.status_code == 201
    response = post({"recipients": ["alice", "bob"], "title": "t"}, bearer(user_topic(alice)))
    assert response.status_code == 403
    assert response.json() == {"error": f"the token does not allow publishing to {user_topic(bob)}"}
    response = post(
        {"recipients": ["alice"], "title": "t"},
        f"Bearer {hubbub.mint_token(subscribe=['*'], key=settings.HUBBUB_PUBLISHER_JWT_KEY)}",
    )
    assert (response.status_code, response.json()["error"]) == (403, "the token carries no mercure.publish claim")
    assert Notification.objects.count() == 1


def test_group_recipient(team, alice, bob):
    response = post({"group": "team", "title": "Hello team"}, bearer("*"))
    assert response.status_code == 201
    assert len(response.json()["ids"]) == 2
    response = post({"group": "nobody", "title": "x"}, bearer("*"))
    assert (response.status_code, response.json()["error"]) == (404, "no group named 'nobody'")


@pytest.mark.parametrize(
    "auth, reason",
    [
        (None, "a publisher JWT (Authorization: Bearer) or a staff session is required"),
        ("Basic abc", "the Authorization header must be 'Bearer <token>'"),
        ("Bearer not-a-jwt", "invalid token: Not enough segments"),
        (
            "Bearer " + hubbub.mint_token(publish=["*"], key="some-other-key-that-is-long-enough-0123"),
            "invalid token: Signature verification failed",
        ),
        (
            "Bearer " + hubbub.mint_token(publish=["*"], expires_in=-10, key=settings.HUBBUB_PUBLISHER_JWT_KEY),
            "token has expired",
        ),
        (
            "Bearer " + hubbub.mint_token(publish=["*"], key=settings.HUBBUB_SUBSCRIBER_JWT_KEY),
            "invalid token: Signature verification failed",
        ),
    ],
)
def test_missing_or_bad_token_is_401(alice, auth, reason):
    response = post({"recipients": ["alice"], "title": "t"}, auth)
    assert response.status_code == 401
    assert response.json() == {"error": reason}
    assert response["WWW-Authenticate"] == "Bearer"
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(
    "payload, reason",
    [
        ("{not json", "malformed JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"\xff\xfe", "the request body is not valid UTF-8"),
        ([1, 2], "the JSON body must be an object"),
        ({"recipients": ["alice"], "title": "t", "colour": "red"}, "unknown field(s): colour"),
        ({"title": "t"}, 'give either "recipients" (a list of usernames) or "group" (a group name)'),
        (
            {"recipients": ["alice"], "group": "team", "title": "t"},
            'give either "recipients" (a list of usernames) or "group" (a group name)',
        ),
        ({"recipients": "alice", "title": "t"}, '"recipients" must be a non-empty list of usernames'),
        ({"recipients": [], "title": "t"}, '"recipients" must be a non-empty list of usernames'),
        ({"group": 3, "title": "t"}, '"group" must be a non-empty string'),
        ({"recipients": ["alice"]}, "title must not be empty"),
        ({"recipients": ["alice"], "title": 5}, "title must be a string"),
        (
            {"recipients": ["alice"], "title": "t", "level": "loud"},
            "level must be one of info, success, warning, error, not 'loud'",
        ),
        (
            {"recipients": ["alice"], "title": "t", "url": "javascript:alert(1)"},
            "url must be a path on this site (/...) or an http(s) URL",
        ),
    ],
)
def test_malformed_requests_are_400(alice, payload, reason):
    response = post(payload, bearer("*"))
    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert Notification.objects.count() == 0


def test_json_content_type_is_required(alice):
    response = post(json.dumps({"recipients": ["alice"], "title": "t"}), bearer("*"), content_type="text/plain")
    assert response.status_code == 400
    assert response.json()["error"] == "the request body must be JSON (Content-Type: application/json)"


def test_unknown_users_are_404_and_nobody_is_notified(alice):
    response = post({"recipients": ["alice", "mallory", "trent"], "title": "t"}, bearer("*"))
    assert (response.status_code, response.json()) == (404, {"error": "unknown user(s): mallory, trent"})
    assert Notification.objects.count() == 0


def test_oversized_body_is_413(alice):
    response = post({"recipients": ["alice"], "title": "t", "body": "x" * MAX_BODY_BYTES}, bearer("*"))
    assert response.status_code == 413
    assert response.json() == {"error": f"the request body is larger than {MAX_BODY_BYTES} bytes"}
    response = post({"recipients": [f"user{i}" for i in range(1001)], "title": "t"}, bearer("*"))
    assert (response.status_code, response.json()) == (413, {"error": "more than 1000 recipients"})


def test_staff_session_is_allowed_with_csrf(alice):
    staff = alice.__class__.objects.create_user("admin", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    response = post({"recipients": ["alice"], "title": "t"}, client=client)
    assert response.status_code == 403
    assert response.json()["error"].startswith("CSRF verification failed")
    client.get("/notifications/")
    csrf = client.cookies["csrftoken"].value
    response = post({"recipients": ["alice"], "title": "From staff"}, client=client, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201
    assert Notification.objects.get().title == "From staff"


def test_non_staff_session_is_403(alice, bob):
    client = Client()
    client.force_login(bob)
    response = post({"recipients": ["alice"], "title": "t"}, client=client)
    assert (response.status_code, response.json()) == (
        403,
        {"error": "only staff members may send notifications with a session"},
    )


def test_only_post(db):
    assert Client().get(URL).status_code == 405


def test_the_public_verify_token_the_api_relies_on_checks_each_kind_with_its_own_key():
    publisher = hubbub.mint_token(publish=["/notifications/users/1"])
    subscriber = hubbub.mint_token(subscribe=["*"])
    allowed = hubbub.verify_token(publisher, publish=True)
    assert (
        allowed is not None and allowed.match("/notifications/users/1") and not allowed.match("/notifications/users/2")
    )
    assert hubbub.verify_token(subscriber, publish=False) is not None
    with pytest.raises(hubbub.InvalidToken, match="Signature verification failed"):
        hubbub.verify_token(subscriber, publish=True)
    with pytest.raises(hubbub.InvalidToken):
        hubbub.verify_token("not-a-token", publish=False)
    # Signed with the subscriber key but carrying no subscribe claim.
    assert (
        hubbub.verify_token(hubbub.mint_token(publish=["*"], key=settings.HUBBUB_SUBSCRIBER_JWT_KEY), publish=False)
        is None
    )
    assert issubclass(hubbub.InvalidToken, hubbub.HubbubError)


def test_json_nested_too_deeply_is_400_in_words(alice):
    response = post("[" * 30_000 + "]" * 30_000, bearer("*"))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed JSON: nested too deeply"}
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"recipients": ["alice\x00"], "title": "t"}, '"recipients" must not contain NUL characters'),
        ({"group": "team\x00", "title": "t"}, '"group" must not contain NUL characters'),
    ],
)
def test_names_with_a_nul_character_which_postgresql_cannot_compare_are_400(alice, payload, reason):
    response = post(payload, bearer("*"))
    assert response.status_code == 400 and response.json() == {"error": reason}


def test_recipients_are_found_ignoring_case(alice):
    response = post({"recipients": ["ALICE", "Alice"], "title": "t"}, bearer("*"))
    assert response.status_code == 201
    assert list(Notification.objects.values_list("recipient", flat=True)) == [alice.pk]


def test_a_recipient_two_users_differ_from_only_by_case_is_404_in_words(alice):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("ALICE")
    response = post({"recipients": ["Alice"], "title": "t"}, bearer("*"))
    assert response.status_code == 404
    reason = "ambiguous user name(s): Alice (could be alice and ALICE: give the name exactly)"
    assert response.json() == {"error": reason}
    assert Notification.objects.count() == 0


def test_a_mercure_1_0_token_for_this_hub_is_accepted_and_one_for_another_hub_is_401(alice):
    for_this_hub = hubbub.mint_token(publish=["*"], draft=8, audience="http://testserver/.well-known/mercure")
    response = post({"recipients": ["alice"], "title": "t"}, f"Bearer {for_this_hub}")
    assert response.status_code == 201
    for_another = hubbub.mint_token(publish=["*"], draft=8, audience="https://other.example/.well-known/mercure")
    response = post({"recipients": ["alice"], "title": "t"}, f"Bearer {for_another}")
    assert response.status_code == 401
    assert Notification.objects.count() == 1
