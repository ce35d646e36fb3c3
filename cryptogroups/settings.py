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
- ``API_COUNT_CACHE_SECONDS``: how long a list's count stays cached (default 3600; 0: off).
- ``PUBLISH_VERSIONS``: ``1`` to publish versions in Redis on commit (needs ``REDIS_URL``), so
  that a cached answer and a 304 make no database query; a write then needs Redis too.
- ``TOKEN_TTL_DAYS``: lifetime of a curator's API token (default 90).
- ``DATABASE_REPLICA_URL``: a streaming replica of the database; anonymous reads go there.
- ``DATABASE_CONNECT_TIMEOUT`` and ``DATABASE_STATEMENT_TIMEOUT``: seconds (PostgreSQL).
- ``DATABASE_RANDOM_PAGE_COST``: PostgreSQL's ``random_page_cost`` for the app's sessions
  (default 1.1, for data in memory or on SSD; empty: the server's own setting).
- ``HTTPS``: on behind TLS in production: HSTS, secure cookies, redirects to https.
- ``SECURE_PROXY_SSL_HEADER``: on when a proxy that terminates TLS sets X-Forwarded-Proto.
- ``NUM_PROXIES``: proxies in front of the app that append to X-Forwarded-For (default 0).
- ``TRUSTED_PROXIES``: the peers whose X-Forwarded-* headers are read (default: with
  ``NUM_PROXIES``, a proxy on this host: ``127.0.0.1,::1,unix``).
- ``CSRF_TRUSTED_ORIGINS``: comma-separated origins allowed to post forms (the admin).
- ``THROTTLE_ANON_RATE`` / ``THROTTLE_USER_RATE``: requests per client, as ``N/period``
  (second, minute, hour or day), or ``off``.
- ``MAX_REQUEST_BYTES``: the largest request body accepted (default 1 MiB).
- ``RATE_LIMIT_FILE``: without ``REDIS_URL``, the file the worker processes of one app server
  count rate limits in (gunicorn.conf.py makes one per instance).
- ``LOG_LEVEL`` and ``LOG_FORMAT`` (``json``, the default, or ``text``).
- ``STATIC_ROOT``: where ``collectstatic`` puts static files (default: ``staticfiles/``).
"""

from __future__ import annotations

import datetime
import ipaddress
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
    "corsheaders",
    "django_guid",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "simple_history",
    "knox",
    "axes",
    "cryptogroups",
    "api.apps.ApiConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, API docs) are served before anything else runs.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A request id: the client's X-Request-ID when it is a UUID, else a new one; it is in every
    # log line of the request and returned in the response's X-Request-ID.
    "django_guid.middleware.guid_middleware",
    "api.middleware.access_log",
    "api.middleware.limit_request_body",
    "api.middleware.api_headers",
    "corsheaders.middleware.CorsMiddleware",
    # A public read the cache holds is answered here, before sessions, URL routing and DRF,
    # with the headers the middleware below would add (api.hits; with PUBLISH_VERSIONS).
    "api.middleware.cached_reads",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Failed admin logins are counted (django-axes) and lock the name out from that address.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
#: Five failed logins for one name from one address lock that pair out for 15 minutes (429);
#: the count starts again after a successful login. The address is the one the rate limits use.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "api.middleware.client_address"
AXES_VERBOSE = False

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


def database(url: str) -> dict:
    """A database from its URL. Connections persist between requests and are checked before
    reuse, so that the app reconnects by itself after the server restarts. On PostgreSQL a
    connection attempt and a statement are bounded in time: a database that hangs gives a 503
    (api.exceptions), not a worker stuck for good."""
    config = dj_database_url.parse(
        url, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")), conn_health_checks=True
    )
    if config["ENGINE"] == "django.db.backends.postgresql":
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5")))
        statement_timeout = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "30"))
        session = [f"-c statement_timeout={statement_timeout * 1000}"]
        # The planner's default (4) prices a random read of a page as a disk seek. Where the
        # data is in memory or on SSD, that makes it hash whole tables rather than look up a
        # page's few related rows by index: the exchanges of 100 groups took 9.5 ms at a
        # million groups, 1.6 ms at 1.1 (docs/performance.md).
        random_page_cost = os.environ.get("DATABASE_RANDOM_PAGE_COST", "1.1")
        if random_page_cost:
            session.append(f"-c random_page_cost={float(random_page_cost)}")
        options.setdefault("options", " ".join(session))
    return config


DATABASES = {
    "default": database(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}

#: A read replica (PostgreSQL streaming replication): anonymous reads go to it, writes and
#: every request that carries credentials go to the primary (cryptogroups.routers). In tests
#: the replica mirrors the primary.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {**database(DATABASE_REPLICA_URL), "TEST": {"MIRROR": "default"}}
    DATABASE_ROUTERS = ["cryptogroups.routers.ReplicaRouter"]
    MIDDLEWARE.append("cryptogroups.routers.route_requests")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

#: Public responses and list counts are cached under the dataset's version (api/cache.py), in
#: Redis when REDIS_URL is set (shared by every app server), in each process's memory
#: otherwise. API_CACHE_SECONDS=0 turns that cache off.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's backend, one Redis client per pool (cryptogroups.redis_cache).
            "BACKEND": "cryptogroups.redis_cache.RedisCache",
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
#: The dataset's version and records' states published in Redis on commit
#: (cryptogroups.published): a cached answer and a 304 then read no database.
PUBLISH_VERSIONS = env_bool("PUBLISH_VERSIONS")
if PUBLISH_VERSIONS and not REDIS_URL:
    raise ImproperlyConfigured("PUBLISH_VERSIONS needs REDIS_URL: the versions live in Redis.")
#: A list's count, kept under the version and the filters even when responses are not cached.
API_COUNT_CACHE_SECONDS = int(os.environ.get("API_COUNT_CACHE_SECONDS", "3600"))
#: Without Redis, the worker processes of one app server count rate limits in this SQLite
#: file (api.throttling), which gunicorn.conf.py makes for each instance; empty: each process
#: counts in its own cache, which is exact only for a single process (runserver, the tests).
RATE_LIMIT_FILE = "" if REDIS_URL else os.environ.get("RATE_LIMIT_FILE", "")
#: The changes feed (cryptogroups.feed): a write looks at the records one relation of a changed
#: record reaches up to this many; a larger relation (the groups of a renamed platform) is left
#: to the feed worker (manage.py feed_worker), which looks at it in batches of
#: FEED_FANOUT_BATCH records, each in a transaction of its own.
FEED_INLINE_RELATED = int(os.environ.get("FEED_INLINE_RELATED", "1000"))
FEED_FANOUT_BATCH = int(os.environ.get("FEED_FANOUT_BATCH", "250"))

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
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
#: In production static files are collected (``manage.py collectstatic``), compressed and
#: named by their content, and served by WhiteNoise with far-future cache headers; with DEBUG
#: on they are served from the apps' folders as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

#: The largest request body read (the API's writes are a few kilobytes); a larger one is a 413
#: before it is read (api.middleware.limit_request_body).
MAX_REQUEST_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

# Security headers. HTTPS=1 in production, where TLS is terminated by the app's proxy or load
# balancer (see docs/deployment.md): `manage.py check --deploy` is then clean.
HTTPS = env_bool("HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
#: A post without its CSRF token is a JSON 403, except in the admin (api.health).
CSRF_FAILURE_VIEW = "api.health.csrf_failure"

#: Proxies in front of the app that append to X-Forwarded-For (the rate limits read the
#: client's address there), and the peers whose X-Forwarded-* headers are believed: IP
#: addresses or networks, and ``unix`` for a peer on a unix socket. Declaring proxies trusts a
#: proxy on this host (loopback, the unix socket) unless TRUSTED_PROXIES says otherwise. A
#: request from any other peer has its X-Forwarded-* headers dropped before Django reads them
#: (cryptogroups.wsgi): a client that reaches the app server directly cannot choose its address.
NUM_PROXIES = int(os.environ.get("NUM_PROXIES", "0"))
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "127.0.0.1,::1,unix" if NUM_PROXIES else "")
for _proxy in TRUSTED_PROXIES:
    if _proxy != "unix":
        try:
            ipaddress.ip_network(_proxy)
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {_proxy!r} is neither an IP address or network nor unix."
            ) from None

#: Browsers on any origin may read the API (it is open data); they may not write through it,
#: and no credentials are sent cross-origin. Curators write from their own tools or the admin.
CORS_ALLOW_ALL_ORIGINS = True
CORS_URLS_REGEX = r"^/api/(v1|schema)/.*$"
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]
CORS_ALLOW_HEADERS = ["accept", "if-none-match", "if-modified-since", "x-request-id"]
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = [
    "etag",
    "last-modified",
    "location",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "x-request-id",
]
CORS_PREFLIGHT_MAX_AGE = 86400

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": False,
}

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
    # Every API client is rate limited (api.throttling): anonymous clients by address,
    # authenticated ones by account. The limits are published in the README.
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.AnonThrottle", "api.throttling.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON_RATE", "120/minute"),
        "user": os.environ.get("THROTTLE_USER_RATE", "1200/minute"),
    },
    # The client's address is the peer's unless proxies are declared: X-Forwarded-For is
    # otherwise the client's to forge.
    "NUM_PROXIES": NUM_PROXIES,
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
    "EXCEPTION_HANDLER_CLASS": "api.exceptions.ExceptionHandler",
    "EXCEPTION_FORMATTER_CLASS": "api.schema.ExceptionFormatter",
    "ALLOWED_ERROR_STATUS_CODES": [
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "413",
        "415",
        "429",
        "503",
    ],
    "ERROR_SCHEMAS": {
        "400": "api.schema.ValidationErrorResponseSerializer",
        **dict.fromkeys(
            ["401", "403", "404", "405", "406", "413", "415", "429"],
            "api.schema.ClientErrorResponseSerializer",
        ),
        "503": "api.schema.ServerErrorResponseSerializer",
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
    "SourceText",
    "SourceType",
    "Support",
    "TargetCategory",
    "TargetEffect",
    "UserMetric",
]

#: The models whose citations name their fields through an enum of their own
#: (``<Model>CitedFieldEnum``, from cryptogroups.citable).
CITED_MODELS = [
    "Organization",
    "Platform",
    "PlatformAvailability",
    "Exchange",
    "ExchangeResponse",
    "Group",
    "Migration",
    "RegulatoryAction",
]

SPECTACULAR_SETTINGS = {
    "TITLE": "cryptogroups API",
    "DESCRIPTION": (
        "An open, curated and cited dataset of crypto-currency communities, the platforms and "
        "exchanges they use, and the regulatory actions that moved them. Every record carries "
        "its citations: the source, a short quote, and whether the source states or implies it."
    ),
    "VERSION": "1.0.0",
    "LICENSE": {
        "name": "CC BY 4.0 (data)",
        "url": "https://creativecommons.org/licenses/by/4.0/",
    },
    # Where the API is served: clients generated from the schema start from this address
    # (the development server, `make run`); point them at your deployment's instead.
    "SERVERS": [
        {
            "url": "http://127.0.0.1:8000",
            "description": "The development server (make run); give your client your "
            "deployment's address instead.",
        }
    ],
    # Every tag an operation carries, described (one per resource, and the changes feed).
    "TAGS": [
        {"name": "changes", "description": "The changes feed: every change of the public dataset."},
        {
            "name": "exchange-responses",
            "description": "What exchanges did in answer to regulation.",
        },
        {"name": "exchanges", "description": "Trading venues and their responses."},
        {"name": "groups", "description": "Communities on platforms, or aggregates of them."},
        {"name": "migrations", "description": "Members moving from one platform to another."},
        {"name": "organizations", "description": "Authorities and companies."},
        {"name": "platform-availabilities", "description": "A platform's status in a country."},
        {"name": "platforms", "description": "Messaging and social services that host groups."},
        {"name": "regulatory-actions", "description": "Bans, rules, notices, orders and blocks."},
        {"name": "sources", "description": "The documents facts are taken from."},
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No null-only enum component (`{"enum": [null]}`, with no type, which some generators
    # cannot compile) beside a nullable choice: api.schema writes its null branch instead.
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    "ENUM_NAME_OVERRIDES": {
        # The closed lists of ISO codes the server accepts (api.filters.CODE_ENUMS).
        "CountryCodeEnum": "cryptogroups.codes.COUNTRY_CODES",
        "LanguageCodeEnum": "cryptogroups.codes.LANGUAGE_CODES",
        "SubdivisionCodeEnum": "api.filters.SUBDIVISION_CODES",
        **{f"{name}Enum": f"cryptogroups.choices.{name}" for name in ENUM_CHOICES},
        # The fields a citation of each resource can name (its representation's fields).
        **{f"{name}CitedFieldEnum": f"cryptogroups.citable.{name}" for name in CITED_MODELS},
        **{
            name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
            for name in ["ValidationErrorEnum", "ClientErrorEnum", "ServerErrorEnum"]
        },
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "api.schema.postprocess_parameters",
        "api.schema.postprocess_conditional_requests",
        "api.schema.postprocess_rate_limits",
        "api.schema.postprocess_for_generators",
    ],
}

#: Logs go to stderr, one JSON object per line (LOG_FORMAT=text for people reading a
#: terminal), each with the request id of the request that wrote it.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
        "not_outages": {"()": "api.logs.NotOutages"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s %(correlation_id)s",
            "timestamp": "time",
            "rename_fields": {
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Each request is logged once, by api.middleware.access_log.
        "django.request": {"level": "ERROR", "filters": ["not_outages"]},
        "django.server": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
    },
}
