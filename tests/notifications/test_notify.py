"""The ``notify`` management command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hubbub.contrib.notifications.models import Notification
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command("notify", *args, stdout=out)
    return out.getvalue()


def test_notify_named_users(alice, bob, carol):
    output = run(
        "--user",
        "alice",
        "--user",
        "bob",
        "--title",
        "Maintenance",
        "--body",
        "at noon",
        "--url",
        "/status/",
        "--level",
        "warning",
    )
    rows = list(Notification.objects.order_by("pk"))
    assert output.strip() == f"Sent 2 notification(s): {rows[0].pk}, {rows[1].pk}"
    assert [(n.recipient.username, n.title, n.body, n.url, n.level) for n in rows] == [
        ("alice", "Maintenance", "at noon", "/status/", "warning"),
        ("bob", "Maintenance", "at noon", "/status/", "warning"),
    ]
    assert len(published("notification")) == 2


def test_notify_all_active_users(alice, bob, carol):
    carol.is_active = False
    carol.save()
    run("--all", "--title", "Hello everyone")
    assert sorted(Notification.objects.values_list("recipient__username", flat=True)) == ["alice", "bob"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "alice", "--user", "mallory", "--title", "t"], "unknown user(s): mallory"),
        (["--user", "alice"], "--title is required"),
        (["--title", "t"], "give --user NAME (repeatable) or --all"),
        (["--user", "alice", "--all", "--title", "t"], "give either --user or --all, not both"),
        (
            ["--user", "alice", "--title", "t", "--level", "loud"],
            "level must be one of info, success, warning, error, not 'loud'",
        ),
        (["--user", "alice", "--title", "x" * 201], "title is longer than 200 characters"),
        (["--user", "alice", "--title", "t", "--url", "javascript:alert(1)"], "url must be a path on this site"),
    ],
)
def test_errors_are_command_errors_and_send_nothing(alice, args, message):
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert str(raised.value).startswith(message)
    assert Notification.objects.count() == 0


@pytest.fixture
def relay_down(monkeypatch):
    """Publishing as from a process whose relay finds no server: stored, and RelayWarning.
    (The real relay, in processes of their own: test_without_chat.py and the browser tests.)"""
    import warnings

    import hubbub

    publish = hubbub.publish

    def stored_only(*args, **kwargs):
        update_id = publish(*args, **kwargs)
        warnings.warn(
            hubbub.RelayWarning(f"hubbub: no server at http://127.0.0.1:1/ to deliver update {update_id}"), stacklevel=2
        )
        return update_id

    monkeypatch.setattr(hubbub, "publish", stored_only)


def test_stored_but_not_delivered_live_is_a_failure_with_the_reason(alice, bob, relay_down):
    """The notifications are kept (pages show them when they next load or reconnect), and
    the command says that they were not delivered and exits 1."""
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("notify", "--user", "alice", "--user", "bob", "--title", "Nobody listening", stdout=out)
    rows = list(Notification.objects.order_by("pk"))
    assert [n.recipient.username for n in rows] == ["alice", "bob"]
    assert raised.value.returncode == 1
    assert str(raised.value).startswith(
        f"stored 2 notification(s) ({rows[0].pk}, {rows[1].pk}) but could not deliver them live: "
        "hubbub: no server at http://127.0.0.1:1/ to deliver update "
    )
    assert out.getvalue() == ""
    assert len(published("notification")) == 2  # in the history, for the pages to resume


def test_every_run_sees_its_relay_failure_though_python_shows_a_warning_once(alice, relay_down):
    import warnings

    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # once per place, as outside the tests
            with pytest.raises(CommandError):
                call_command("notify", "--user", "alice", "--title", "twice", stdout=StringIO())


def test_other_warnings_are_shown_and_do_not_fail(alice, monkeypatch):
    import warnings

    import hubbub

    publish = hubbub.publish

    def deprecated(*args, **kwargs):
        warnings.warn("something else", DeprecationWarning, stacklevel=2)
        return publish(*args, **kwargs)

    monkeypatch.setattr(hubbub, "publish", deprecated)
    with pytest.warns(DeprecationWarning, match="something else"):
        assert run("--user", "alice", "--title", "fine").startswith("Sent 1 notification(s): ")


@pytest.fixture(params=["embedded", pytest.param("scaled", marks=[pytest.mark.postgres, pytest.mark.redis])])
def server(request):
    return request.getfixturevalue(f"{request.param}_server")


async def test_command_in_another_process_reaches_only_the_recipients_open_pages(server):
    import json

    from asgiref.sync import sync_to_async

    from tests.notifications.live import signed_in_user
    from tests.sse import subscribe

    (alice, alice_pk, alice_session), (_, bob_pk, bob_session) = [
        await sync_to_async(signed_in_user)(server, prefix) for prefix in ("alice", "bob")
    ]
    alice_topic, bob_topic = f"/notifications/users/{alice_pk}", f"/notifications/users/{bob_pk}"
    async with (
        subscribe(server.hub, alice_topic, headers={"Cookie": f"sessionid={alice_session}"}) as alice_page,
        subscribe(server.hub, alice_topic, bob_topic, "*", headers={"Cookie": f"sessionid={bob_session}"}) as bob_page,
    ):
        assert (alice_page.status, bob_page.status) == (200, 200)
        result = await sync_to_async(server.manage)("notify", "--user", alice, "--title", "Cross-process")
        event = await alice_page.next(timeout=10)
        data = json.loads(event.data)
        assert (event.type, data["title"], data["unread"]) == ("notification", "Cross-process", 1)
        assert result.stdout.strip() == f"Sent 1 notification(s): {data['id']}"
        assert await bob_page.silent(0.5)


@pytest.fixture
def hub_failing(monkeypatch):
    """The hub refuses every update, as when its channel layer is unreachable."""
    import hubbub

    def failing(*args, **kwargs):
        raise hubbub.FanoutUnavailable("urn:uuid:1", ConnectionError("Error 111 connecting to 127.0.0.1:6379."))

    monkeypatch.setattr(hubbub, "publish", failing)


def test_a_hub_failure_is_a_one_line_error_not_a_traceback_then_sent(alice, bob, hub_failing, caplog):
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("notify", "--user", "alice", "--user", "bob", "--title", "Redis is down", stdout=out)
    rows = list(Notification.objects.order_by("pk"))
    assert [n.recipient.username for n in rows] == ["alice", "bob"]  # kept: the pages show them on their next load
    assert raised.value.returncode == 1
    assert str(raised.value) == (
        f"stored 2 notification(s) ({rows[0].pk}, {rows[1].pk}) but could not deliver them live: "
        "update urn:uuid:1 was not published, the channel layer is unreachable: "
        "Error 111 connecting to 127.0.0.1:6379."
    )
    assert out.getvalue() == ""
    assert [record for record in caplog.records if record.exc_info] == []


def test_a_user_name_with_a_nul_character_is_refused(alice):
    with pytest.raises(CommandError) as raised:
        run("--user", "alice\x00", "--title", "t")
    assert str(raised.value) == "a --user name must not contain NUL characters"


def test_user_names_are_compared_ignoring_case(db):
    from django.contrib.auth import get_user_model

    ada = get_user_model().objects.create_user("Ada")
    run("--user", "ada", "--user", "ADA", "--title", "t")
    assert list(Notification.objects.values_list("recipient", flat=True)) == [ada.pk]


def test_a_name_two_users_differ_from_only_by_case_is_an_error_unless_exact(db):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.create_user("ADA")
    mixed = User.objects.create_user("Ada")
    with pytest.raises(CommandError) as raised:
        run("--user", "ada", "--title", "t")
    assert str(raised.value) == "ambiguous user name(s): ada (could be ADA and Ada: give the name exactly)"
    assert Notification.objects.count() == 0
    run("--user", "Ada", "--title", "t")
    assert list(Notification.objects.values_list("recipient", flat=True)) == [mixed.pk]
