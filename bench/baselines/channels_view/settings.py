import os

SECRET_KEY = "bench-channels-baseline"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.baselines.channels_view.urls"
DATABASES: dict = {}
ASGI_APPLICATION = "bench.baselines.channels_view.asgi.application"
if os.environ.get("BENCH_CHANNEL_LAYER") == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]], "prefix": os.environ.get("BENCH_REDIS_PREFIX", "bench")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
