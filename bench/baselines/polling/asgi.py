import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baselines.polling.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
