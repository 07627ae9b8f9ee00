import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baselines.eventstream_view.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
