"""The ``notify`` management command."""

import pytest
from django.core.management import CommandError, call_command

from hubbub.contrib.notifications.models import Notification
from tests.published import published

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("notify", *args, stdout=out)
    return out.getvalue()


def test_notify_named_users(alice, bob, carol):
    output = run("--user", "alice", "--user", "bob", "--title", "Maintenance", "--body", "at noon", "--url", "/status/", "--level", "warning")
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
        (["--user", "alice", "--title", "t", "--level", "loud"], "level must be one of info, success, warning, error, not 'loud'"),
        (["--user", "alice", "--title", "x" * 201], "title is longer than 200 characters"),
        (["--user", "alice", "--title", "t", "--url", "javascript:alert(1)"], "url must be a path on this site"),
    ],
)
def test_errors_are_command_errors_and_send_nothing(alice, args, message):
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert str(raised.value).startswith(message)
    assert Notification.objects.count() == 0


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
    async with subscribe(server.hub, alice_topic, headers={"Cookie": f"sessionid={alice_session}"}) as alice_page, subscribe(
        server.hub, alice_topic, bob_topic, "*", headers={"Cookie": f"sessionid={bob_session}"}
    ) as bob_page:
        assert (alice_page.status, bob_page.status) == (200, 200)
        result = await sync_to_async(server.manage)("notify", "--user", alice, "--title", "Cross-process")
        event = await alice_page.next(timeout=10)
        data = json.loads(event.data)
        assert (event.type, data["title"], data["unread"]) == ("notification", "Cross-process", 1)
        assert result.stdout.strip() == f"Sent 1 notification(s): {data['id']}"
        assert await bob_page.silent(0.5)
