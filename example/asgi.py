"""The demo site's ASGI application: the hub at /.well-known/mercure, Django for every other URL."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

from django.core.asgi import get_asgi_application

from hubbub.asgi import with_hub

application = with_hub(get_asgi_application())

# Thousands of open streams make full garbage collections long pauses for every
# subscriber: keep start-up objects out of them, and run them less often.
gc.freeze()
gc.set_threshold(20_000, 20, 20)
