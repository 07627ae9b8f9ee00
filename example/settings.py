"""Settings of the Hubbub site, read from the environment.

With nothing set, the site runs embedded: SQLite in ``var/`` and the in-memory channel
layer, one process. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HUBBUB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_secret_key() -> str:
    """A key generated once for this checkout, so that sessions survive restarts on a laptop."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so that manage.py runserver is the hub's (an ASGI server).
    "hubbub",
    "django.contrib.staticfiles",
    "servestatic",
    "channels",
    "hubbub.contrib.chat",
    "hubbub.contrib.notifications",
    "example",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # The hub's discovery link (Link: <...>; rel="mercure") on the site's pages.
    "hubbub.discovery.DiscoveryMiddleware",
]

# Content-Security-Policy (django-csp): scripts, styles, images, fonts and connections (the hub's
# event stream included) from this site only; no inline script, inline style or event handler
# attribute runs, no plugin, no framing. The chat's and the notifications' pages need nothing more.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
    }
}

ROOT_URLCONF = "example.urls"
ASGI_APPLICATION = "example.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

REDIS_URL = os.environ.get("REDIS_URL", "")
# What tells this deployment's channels apart from another's on the same Redis server. Unset,
# the hub derives one from what already tells them apart (the Redis database number, the
# history database): set it only to share channels on purpose, or to name them yourself.
REDIS_PREFIX = os.environ.get("HUBBUB_REDIS_PREFIX")
if REDIS_PREFIX:
    HUBBUB_REDIS_PREFIX = REDIS_PREFIX
if REDIS_URL:
    # Shared by every worker, so that per-user limits (chat's rate limit) count across processes.
    # Cache keys stay within the Redis database of REDIS_URL (unlike pub/sub channels), so a
    # fixed prefix keeps deployments on different databases apart; HUBBUB_REDIS_PREFIX, when
    # set, also tells apart those that share one.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_PREFIX or "hubbub",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # The hub names its groups with HUBBUB_REDIS_PREFIX (or the prefix it derives); the
            # layer's own prefix only when one is given.
            "CONFIG": {"hosts": [REDIS_URL], **({"prefix": REDIS_PREFIX} if REDIS_PREFIX else {})},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # One channel per process carries every update, so it needs room, and its
            # group memberships must not expire while subscribers stay connected.
            "CONFIG": {"capacity": 100_000, "group_expiry": 10 * 365 * 24 * 3600},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# Where the chat's attachments are stored (default_storage), out of the static files.
MEDIA_ROOT = VAR_DIR / "media"
SERVESTATIC_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Unset, the hub derives its keys from SECRET_KEY.
if os.environ.get("HUBBUB_PUBLISHER_JWT_KEY"):
    HUBBUB_PUBLISHER_JWT_KEY = os.environ["HUBBUB_PUBLISHER_JWT_KEY"]
if os.environ.get("HUBBUB_SUBSCRIBER_JWT_KEY"):
    HUBBUB_SUBSCRIBER_JWT_KEY = os.environ["HUBBUB_SUBSCRIBER_JWT_KEY"]
# Mercure 1.0 tokens: the hub's resource identifier, which their `aud` must contain (unset: the
# URL each request reached), and the issuer (`iss`) that the two keys above belong to.
if os.environ.get("HUBBUB_TOKEN_AUDIENCE"):
    HUBBUB_TOKEN_AUDIENCE = os.environ["HUBBUB_TOKEN_AUDIENCE"]
if os.environ.get("HUBBUB_TOKEN_ISSUER"):
    HUBBUB_TOKEN_ISSUER = os.environ["HUBBUB_TOKEN_ISSUER"]
HUBBUB_CORS_ALLOWED_ORIGINS = env_list("HUBBUB_CORS_ALLOWED_ORIGINS")
HUBBUB_ANONYMOUS_SUBSCRIBERS = env_bool("HUBBUB_ANONYMOUS_SUBSCRIBERS", True)
HUBBUB_HEARTBEAT_SECONDS = float(os.environ.get("HUBBUB_HEARTBEAT_SECONDS", "15"))
if "HUBBUB_SUBSCRIBER_BUFFER" in os.environ:
    HUBBUB_SUBSCRIBER_BUFFER = int(os.environ["HUBBUB_SUBSCRIBER_BUFFER"])
if "HUBBUB_HISTORY_MAX_COUNT" in os.environ:
    HUBBUB_HISTORY_MAX_COUNT = int(os.environ["HUBBUB_HISTORY_MAX_COUNT"])
if "HUBBUB_HISTORY_MAX_AGE" in os.environ:
    HUBBUB_HISTORY_MAX_AGE = int(os.environ["HUBBUB_HISTORY_MAX_AGE"])
# The chat's limits on guest sign-ups and sign-in attempts per address, as "COUNT,SECONDS"
# (the test suite raises them: all its browsers come from 127.0.0.1).
for _name in ("CHAT_SIGNUP_RATE_LIMIT", "CHAT_SIGNIN_RATE_LIMIT"):
    if os.environ.get(_name):
        _count, _seconds = env_list(_name)
        globals()[_name] = (int(_count), int(_seconds))
# Open streams per worker: in all, per client address, per user or token (0: no limit).
if "HUBBUB_MAX_CONNECTIONS" in os.environ:
    HUBBUB_MAX_CONNECTIONS = int(os.environ["HUBBUB_MAX_CONNECTIONS"]) or None
if "HUBBUB_MAX_CONNECTIONS_PER_IP" in os.environ:
    HUBBUB_MAX_CONNECTIONS_PER_IP = int(os.environ["HUBBUB_MAX_CONNECTIONS_PER_IP"]) or None
if "HUBBUB_MAX_CONNECTIONS_PER_USER" in os.environ:
    HUBBUB_MAX_CONNECTIONS_PER_USER = int(os.environ["HUBBUB_MAX_CONNECTIONS_PER_USER"]) or None
# Processes other than the server (management commands, scripts) reach the open pages
# through the server when the channel layer cannot cross processes: by default the hub on
# 127.0.0.1:$PORT.
if os.environ.get("HUBBUB_RELAY_URL"):
    HUBBUB_RELAY_URL = os.environ["HUBBUB_RELAY_URL"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
