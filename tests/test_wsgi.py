"""The WSGI entry point (``cryptogroups.wsgi.application``) called directly, as an app server
calls it: no request, however built, gets a 5xx or a body that is not JSON before the app's
own handling; the query string is UTF-8 whatever the body's charset; answers given without
reading the body close the connection.

A hypothesis fuzz builds the environ from bytes, as a server passes them on (each value is
the request's bytes read as Latin-1): methods, paths, query strings, headers, and the body's
charset, among the codecs that broke it (``punycode``, ``idna``, ``utf-16``, ``rot13``), unknown
names and arbitrary bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from knox.models import AuthToken

from cryptogroups import models
from cryptogroups.wsgi import make_application

REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server was asked to close the connection

    def json(self):
        return json.loads(self.body)


class ServerResponse:
    """What gunicorn hands the app as ``start_response``: a bound method of its response
    object, which has ``force_close``."""

    def __init__(self):
        self.status = None
        self.headers: list[tuple[str, str]] = []
        self.closed = False

    def start_response(self, status, headers, exc_info=None):
        assert all(isinstance(n, str) and isinstance(v, str) for n, v in headers)
        self.status, self.headers = status, headers

    def force_close(self):
        self.closed = True


def call(app, method="GET", path="/healthz", query="", body=b"", **environ) -> Answer:
    """One request; environ values are WSGI strings (bytes read as Latin-1), None leaves a
    key out."""
    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        base["CONTENT_LENGTH"] = str(len(body))
    base.update(environ)
    base = {key: value for key, value in base.items() if value is not None}
    server = ServerResponse()
    chunks = app(base, server.start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    status = int(server.status.split()[0])
    headers = {name.lower(): value for name, value in server.headers}
    return Answer(status, headers, content, server.closed)


@pytest.fixture
def app(db):
    """A fresh production application (settings overridden by a test are read when it is
    made). Django's closing of connections around a request is off during the test, as in
    tests/conftest.py, since it would end the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield make_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def wire(data: bytes) -> str:
    return data.decode("iso-8859-1")


def assert_json_refusal(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    (error,) = answer.json()["errors"]
    assert error["code"] == code
    assert REQUEST_ID.fullmatch(answer.headers["x-request-id"])
    # The body was not read: the connection is closed, by the server (a WSGI application may
    # not send the hop-by-hop Connection header itself).
    assert answer.closed
    assert "connection" not in answer.headers


# --- The charsets that broke the request before the middleware -------------------------------


@contextlib.contextmanager
def json_log() -> Iterator[list[dict]]:
    """The JSON lines the configured console handler writes (as LOGGING sets it up), read
    when the block ends."""
    (handler,) = [h for h in logging.getLogger().handlers if h.name == "console"]
    buffer = io.StringIO()
    stream = handler.setStream(buffer)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        handler.setStream(stream)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())


@pytest.mark.parametrize("charset", ["punycode", "idna", "PunyCode", "undefined", "rot13"])
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/groups/", "/admin/login/", "/no/such"])
def test_a_charset_that_names_no_text_encoding_is_a_json_415(app, charset, path):
    with json_log() as lines:
        answer = call(
            app, path=path, query="xn--zz=1", CONTENT_TYPE=f"text/plain; charset={charset}"
        )
    assert_json_refusal(answer, 415, "unsupported_media_type")
    # Logged once, as a warning with the access log's fields and the id the client got.
    (line,) = lines
    assert (line["logger"], line["level"], line["status"]) == (
        "cryptogroups.access",
        "WARNING",
        415,
    )
    assert (line["method"], line["path"], line["client"]) == ("GET", path, "127.0.0.1")
    assert line["request_id"] == answer.headers["x-request-id"]


def test_a_refusal_keeps_the_clients_request_id(app):
    given_id = uuid.uuid4().hex
    answer = call(app, CONTENT_TYPE="text/plain; charset=idna", HTTP_X_REQUEST_ID=given_id)
    assert answer.headers["x-request-id"] == given_id


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "latin-1", "cp1252", "no-such-codec"])
def test_a_text_charset_leaves_the_query_string_alone(app, charset):
    """The query string is UTF-8 (percent-encoded), whatever the body's charset says."""
    answer = call(
        app,
        path="/api/v1/groups/",
        query="search=%E4%BA%A4%E6%98%93%E6%89%80&page_size=2",
        CONTENT_TYPE=f"application/json; charset={charset}",
    )
    assert answer.status == 200, answer.body
    assert answer.json()["results"] is not None
    assert not answer.closed


def test_an_odd_query_string_with_an_odd_charset_is_still_read_as_utf8(app):
    """``?bogus`` in UTF-8 is named in the 400 as it was sent, not as the charset reads it."""
    answer = call(
        app,
        path="/api/v1/groups/",
        query="%C3%A9t%C3%A9=1",
        CONTENT_TYPE="application/json; charset=utf-16",
    )
    assert answer.status == 400
    (error,) = answer.json()["errors"]
    assert error["attr"] == "été"


@pytest.fixture
def curator_token(curator) -> str:
    return AuthToken.objects.create(user=curator)[1]


def test_the_reason_of_a_utf16_write_is_stored_as_sent(app, curator_token):
    """``application/json; charset=utf-16``: the body is UTF-16, the query string UTF-8."""
    reason = "Nom corrigé d'après le communiqué 中国人民银行"
    body = json.dumps({"description": "Le régulateur central."}).encode("utf-16")
    answer = call(
        app,
        "PATCH",
        "/api/v1/organizations/pboc/",
        f"reason={quote(reason)}",
        body,
        CONTENT_TYPE="application/json; charset=utf-16",
        HTTP_AUTHORIZATION=f"Token {curator_token}",
    )
    assert answer.status == 200, answer.body
    record = models.Organization.objects.get(slug="pboc")
    assert record.description == "Le régulateur central."
    assert record.history.latest("history_date").history_change_reason == reason


# --- Connections closed after answers that left the body unread ------------------------------


@pytest.mark.parametrize(
    ("environ", "status"),
    [
        ({"CONTENT_LENGTH": str(10 * 2**20)}, 413),
        ({"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked"}, 411),
        ({"CONTENT_LENGTH": "ten"}, 400),
    ],
)
def test_a_body_refused_unread_closes_the_connection(app, environ, status):
    answer = call(
        app,
        "POST",
        "/api/v1/platforms/",
        "reason=x",
        b'{"slug": "x"}',
        CONTENT_TYPE="application/json",
        **environ,
    )
    assert answer.status == status
    assert answer.closed
    assert "connection" not in answer.headers


def test_an_ordinary_answer_keeps_the_connection(app):
    answer = call(app)
    assert answer.status == 200
    assert not answer.closed


# --- Forwarded headers from peers that are not trusted proxies --------------------------------


def test_a_peer_that_is_no_proxy_cannot_claim_https(app, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    application = make_application()
    direct = call(
        application, "GET", "/api/v1/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https"
    )
    proxied = call(application, "GET", "/api/v1/", HTTP_X_FORWARDED_PROTO="https")
    assert direct.status == 301
    assert direct.headers["location"].startswith("https://")
    assert proxied.status == 200


# --- The fuzz ---------------------------------------------------------------------------------

#: Paths whose answers are JSON: the API, the probes, and paths that match nothing. (The admin,
#: the documentation pages and static files are HTML, CSS or JS by design; the schema is YAML.)
PATHS = [
    "/api/v1/",
    "/api/v1/groups/",
    "/api/v1/groups/okcoin-telegram-group/",
    "/api/v1/organizations/pboc/history/",
    "/api/v1/changes/",
    "/api/v1/platforms/telegram/",
    "/healthz",
    "/readyz",
    "/no/such/path",
]
CHARSETS = [
    "punycode",
    "idna",
    "utf-16",
    "utf-16-be",
    "utf-32",
    "rot13",
    "bz2_codec",
    "undefined",
    "utf-7",
    "unicode_escape",
    "no-such-codec",
    "utf-8",
    "",
]
MEDIA_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
]

latin1 = st.binary(max_size=40).map(wire)
token = st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=10)
charset_text = st.one_of(st.sampled_from(CHARSETS), latin1)
content_type = (
    st.builds(
        lambda media, charset, extra: f"{media}; charset={charset}{extra}",
        st.sampled_from(MEDIA_TYPES),
        charset_text,
        st.one_of(st.just(""), latin1.map(lambda s: f"; {s}")),
    )
    | latin1
)
query = st.one_of(
    st.binary(max_size=60).map(wire),
    st.lists(
        st.tuples(
            st.sampled_from(["xn--zz", "search", "page", "reason", "format", "é"]),
            st.binary(max_size=12),
        ),
        max_size=4,
    ).map(lambda pairs: "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)),
    st.just("xn--zz=1"),
)
path = st.one_of(
    st.sampled_from(PATHS),
    st.binary(max_size=30).map(lambda b: "/api/v1/" + wire(b)),
    st.binary(max_size=30).map(lambda b: "/x" + wire(b)),
)
method = st.one_of(
    st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "get", "TRACE"]),
    token,
)
header_name = st.sampled_from(
    [
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_LANGUAGE",
        "HTTP_AUTHORIZATION",
        "HTTP_COOKIE",
        "HTTP_IF_NONE_MATCH",
        "HTTP_IF_MATCH",
        "HTTP_X_REQUEST_ID",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_ORIGIN",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_RANGE",
        "HTTP_X_CUSTOM",
    ]
)
headers = st.dictionaries(header_name, latin1, max_size=4)


@examples(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=method,
    path=path,
    query=query,
    content_type=st.one_of(st.none(), content_type),
    headers=headers,
    body=st.binary(max_size=60),
)
def test_no_request_gets_a_server_error_or_an_answer_that_is_not_json(
    app, method, path, query, content_type, headers, body
):
    answer = call(app, method, path, query, body, CONTENT_TYPE=content_type, **headers)
    assert answer.status < 500, (answer.status, answer.body[:500])
    if answer.status != 304:
        assert answer.headers.get("content-type", "").startswith("application/json"), answer
    assert REQUEST_ID.fullmatch(answer.headers["x-request-id"])
