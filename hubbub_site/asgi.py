"""The ASGI application: the hub's endpoint first, then Django for every other URL."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hubbub_site.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from hubbub.routing import urlpatterns as hub_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*hub_urlpatterns(), re_path(r"", django_application)]),
    }
)

# Thousands of open streams make full garbage collections long pauses for every
# subscriber: keep start-up objects out of them, and run them less often.
gc.freeze()
gc.set_threshold(20_000, 20, 20)
