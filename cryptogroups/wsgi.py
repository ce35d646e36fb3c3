"""WSGI entry point: ``cryptogroups.wsgi:application``."""

import codecs
import json
import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application
from django.utils.http import parse_header_parameters

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptogroups.settings")


def refuse_unreadable_charsets(app):
    """A 415 in the API's error shape for a body whose declared charset is a codec that is not
    a text encoding (``rot13``, ``bz2_codec``): Django adopts it while it builds the request,
    before any middleware, and fails decoding the query string with it. A charset Python does
    not know at all Django ignores, as before."""

    def application(environ, start_response):
        _, params = parse_header_parameters(environ.get("CONTENT_TYPE", ""))
        charset = params.get("charset")
        if charset:
            try:
                readable = codecs.lookup(charset)._is_text_encoding
            except LookupError:
                readable = True
            except ValueError:  # a name no codec can have (a NUL character)
                readable = False
            if not readable:
                body = json.dumps(
                    {
                        "type": "client_error",
                        "errors": [
                            {
                                "code": "unsupported_media_type",
                                "detail": f"The charset {charset!r} is not a text encoding.",
                                "attr": None,
                            }
                        ],
                    }
                ).encode()
                start_response(
                    "415 Unsupported Media Type",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return app(environ, start_response)

    return application


def make_application():
    """The app as servers run it. It refuses to start with a rate limit it cannot read
    (``THROTTLE_*_RATE``): system checks do not run when an app server starts."""
    django_application = get_wsgi_application()
    from api.throttling import check_rates

    if errors := check_rates():
        raise ImproperlyConfigured("; ".join(error.msg for error in errors))
    return refuse_unreadable_charsets(django_application)


application = make_application()
