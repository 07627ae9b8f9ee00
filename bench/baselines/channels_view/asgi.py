import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baselines.channels_view.settings")

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

application = ProtocolTypeRouter({"http": get_asgi_application()})
