import os

SECRET_KEY = "bench-polling-baseline"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "bench.baselines.polling"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.baselines.polling.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_SQLITE_PATH"],
        "OPTIONS": {"timeout": 20},
    }
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
