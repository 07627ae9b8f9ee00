"""Users and sessions in a live server's database (created by a separate process of it)."""

from __future__ import annotations

import uuid

from tests.servers import Server

_SIGN_IN = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_user({name!r})
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(user.pk, session.session_key)
"""


def signed_in_user(server: Server, prefix: str) -> tuple[str, int, str]:
    """A new user of the server: (username, pk, session key)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    output = server.manage("shell", "-c", _SIGN_IN.format(name=name)).stdout
    pk, session_key = output.strip().splitlines()[-1].split()
    return name, int(pk), session_key
