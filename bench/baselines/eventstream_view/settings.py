SECRET_KEY = "bench-eventstream-baseline"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_eventstream"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.baselines.eventstream_view.urls"
DATABASES: dict = {}
