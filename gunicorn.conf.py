"""gunicorn, as the app runs in production: ``gunicorn -c gunicorn.conf.py``.

Every setting can be changed from the environment (the names are gunicorn's own where it has
one). Threads let a worker keep connections alive and wait on the database for one request
while it serves another.

gunicorn is not exposed to clients: it reads a request's headers with no time limit, so a
few slow clients would hold every worker thread. nginx (deploy/nginx/) buffers each request
and talks to gunicorn over a unix socket or loopback, and this file refuses any other address
unless ``GUNICORN_BIND_PUBLIC=1`` says that the proxy is on another host (docs/deployment.md).
"""

import atexit
import gc
import ipaddress
import multiprocessing
import os
import shutil
import tempfile

wsgi_app = "cryptogroups.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")


def _private_address(address: str) -> bool:
    """A unix socket (or one handed over by the service manager), or a loopback address:
    ``127.0.0.1:8000``, ``[::1]:8000``, ``localhost:8000``."""
    if address.startswith(("unix:", "fd://")):
        return True
    host = address[1:].partition("]")[0] if address.startswith("[") else address.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_public = [address for address in bind.split(",") if not _private_address(address.strip())]
if _public and os.environ.get("GUNICORN_BIND_PUBLIC") != "1":
    raise SystemExit(
        f"gunicorn.conf.py: refusing to listen on {', '.join(_public)}: gunicorn must not face "
        "clients (it has no header timeout). Bind a unix socket or a loopback address behind "
        "nginx (deploy/nginx/), or set GUNICORN_BIND_PUBLIC=1 when the proxy runs on another "
        "host and TRUSTED_PROXIES names it (docs/deployment.md)."
    )
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# Workers are replaced now and then, so that no slow leak can grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# The app is loaded before the workers fork: they share its memory pages.
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"

# No control socket unless one is named: gunicorn's default path is the same for every
# instance of a user ($XDG_RUNTIME_DIR or ~/.gunicorn), so that a second instance takes over
# the first one's socket, and stopping either removes it for both.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# Rate limits hold across the workers without Redis: with no REDIS_URL, each worker's cache is
# its own memory, so the workers count in one SQLite file this instance makes for itself
# (api.throttling, RATE_LIMIT_FILE). Several app servers still need Redis to share a budget.
if not os.environ.get("REDIS_URL") and not os.environ.get("RATE_LIMIT_FILE"):
    _rate_limit_dir = tempfile.mkdtemp(prefix="cryptogroups-ratelimits-")
    os.environ["RATE_LIMIT_FILE"] = os.path.join(_rate_limit_dir, "counts.sqlite3")
    _master = os.getpid()

    @atexit.register
    def _remove_rate_limit_dir() -> None:
        if os.getpid() == _master:  # not when a worker exits
            shutil.rmtree(_rate_limit_dir, ignore_errors=True)


# gunicorn's own logs are JSON lines too, like the app's (LOG_FORMAT=text for a terminal).
if os.environ.get("LOG_FORMAT", "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": "%(levelname)s %(name)s %(message)s",
                "timestamp": "time",
                "rename_fields": {"levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }


def pre_fork(server, worker):
    """Before a worker is forked, the objects the app has loaded (its modules, settings, URL
    patterns, compiled representations) leave the garbage collector's watch: they live as
    long as the process, and a full collection would otherwise walk them all again and again
    while requests run (about a tenth of a list request's time), and write to every page
    that holds them, which the workers would then stop sharing (Python's ``gc.freeze``)."""
    gc.freeze()
