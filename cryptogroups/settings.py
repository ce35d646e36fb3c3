"""Settings for cryptogroups, all read from the environment.

Variables (see README.md, "Configuration"):

- ``DATABASE_URL``: where the data lives. Default: an SQLite file in the project directory.
- ``SECRET_KEY``: required unless ``DEBUG`` is on; with ``DEBUG`` and no key, an ephemeral random
  key is generated for the process.
- ``DEBUG``: ``1``/``true`` to enable. Off by default.
- ``ALLOWED_HOSTS``: comma-separated host names. Default: the loopback names.
- ``CONN_MAX_AGE``: seconds a database connection is kept open between requests (default 60).
- ``REDIS_URL``: the cache shared by app servers (default: each process's memory).
- ``API_CACHE_SECONDS``: how long a public response stays cached (default 3600; 0: off).
- ``TOKEN_TTL_DAYS``: lifetime of a curator's API token (default 90).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable; refuse values that are not clearly one or the other."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}.")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")
    SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "simple_history",
    "knox",
    "cryptogroups",
    "api.apps.ApiConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "cryptogroups.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "cryptogroups.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

#: Public responses and list counts are cached under the dataset's version (api/cache.py), in
#: Redis when REDIS_URL is set (shared by every app server), in each process's memory
#: otherwise. API_CACHE_SECONDS=0 turns that cache off.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cryptogroups",
            # A cache server that stops answering must not hold requests up.
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "cryptogroups",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }
API_CACHE_SECONDS = int(os.environ.get("API_CACHE_SECONDS", "3600"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Tokens first: an anonymous write is then answered 401 with a WWW-Authenticate challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.CuratorPermissions"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "api.filters.StrictDjangoFilterBackend",
        "api.filters.SearchFilter",
        "api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
}

#: Curators' API tokens (django-rest-knox): stored as SHA-512 digests, shown once when issued.
#: A token lives ``TOKEN_TTL_DAYS`` days (default 90) unless issued with another lifetime.
REST_KNOX = {
    "TOKEN_TTL": datetime.timedelta(days=int(os.environ.get("TOKEN_TTL_DAYS", "90"))),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

#: Error responses are documented on an operation only where they can occur: 401 and 403 where
#: it authenticates or checks permissions, 429 where it is throttled. All share one shape.
DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_FORMATTER_CLASS": "api.schema.ExceptionFormatter",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "406", "415", "429"],
    "ERROR_SCHEMAS": {
        "400": "api.schema.ValidationErrorResponseSerializer",
        **dict.fromkeys(
            ["401", "403", "404", "405", "406", "415", "429"],
            "api.schema.ClientErrorResponseSerializer",
        ),
    },
}

#: Every choices class pinned to a stable enum component name, so that a new field or serializer
#: using the same choices cannot rename the enum in generated clients.
ENUM_CHOICES = [
    "ActionStatus",
    "ActionType",
    "Affiliation",
    "AvailabilityStatus",
    "ChangeOperation",
    "CountQualifier",
    "DatePrecision",
    "DateQualifier",
    "Encryption",
    "ExchangeStatus",
    "ExchangeType",
    "GroupStatus",
    "GroupType",
    "HistoryType",
    "IssuerRole",
    "OrganizationType",
    "PlatformType",
    "PublicationStatus",
    "ResponseType",
    "SourceType",
    "Support",
    "TargetCategory",
    "TargetEffect",
    "UserMetric",
]

SPECTACULAR_SETTINGS = {
    "TITLE": "cryptogroups API",
    "DESCRIPTION": (
        "An open, curated and cited dataset of crypto-currency communities, the platforms and "
        "exchanges they use, and the regulatory actions that moved them. Every record carries "
        "its citations: the source, a short quote, and whether the source states or implies it."
    ),
    "VERSION": "1.0.0",
    "LICENSE": {"name": "CC BY 4.0 (data)"},
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        **{f"{name}Enum": f"cryptogroups.choices.{name}" for name in ENUM_CHOICES},
        **{
            name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
            for name in ["ValidationErrorEnum", "ClientErrorEnum", "ServerErrorEnum"]
        },
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "api.schema.postprocess_parameters",
        "api.schema.postprocess_conditional_requests",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
