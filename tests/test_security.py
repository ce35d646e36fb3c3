"""Security, through HTTP as clients meet the API: who may write (every write operation found
from the URL resolver, for every kind of caller), CSRF on session writes, an admin for staff
only, unpublished records that never show to the public by any path, a rate limit that a forged
address does not reset, and error responses that give nothing of the server away.

Each refused write is shown to change nothing: the same rows in every table of the app (history
and changes feed included), the same admin log and the same dataset version."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import FieldDoesNotExist
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_filters import rest_framework as django_filters
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework.views import APIView

from api.filters import CountryFilter, LanguageFilter, SlugFilter, SubdivisionFilter
from api.urls import router
from cryptogroups import feed, models
from cryptogroups.models.base import Record
from cryptogroups.roles import CURATORS_GROUP
from tests import factories as f
from tests.conftest import token_client

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
REASON = "Security test"

#: resource (as in its URL) → its viewset, and the reverse.
VIEWSETS = {prefix: viewset for prefix, viewset, _basename in router.registry}
RESOURCE_OF = {viewset: prefix for prefix, viewset in VIEWSETS.items()}


def model_of(resource: str):
    return VIEWSETS[resource].queryset.model


def has_workflow(resource: str) -> bool:
    return issubclass(model_of(resource), Record)


# --- Routes, from the URL resolver ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Route:
    """A URL pattern outside the admin: its name (or its path, when it has none), the names of
    its path parameters, the resource of its viewset, and the methods its viewset maps."""

    name: str | None
    route: str
    params: tuple[str, ...]
    resource: str | None
    actions: tuple[tuple[str, str], ...]
    drf: bool

    def path(self, slug: str | None = None, **query) -> str:
        if self.name is None:
            assert not self.params, self.route
            path = "/" + self.route
        else:
            kwargs = {"slug": slug, "format": "json"}
            path = reverse(self.name, kwargs={k: kwargs[k] for k in self.params} or None)
        return path + (f"?{urlencode(query)}" if query else "")

    @property
    def suffixed(self) -> bool:
        return "format" in self.params


def walk(resolver: URLResolver, prefix: str = "", params: tuple = ()) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        names = (*params, *entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # the admin has its own tests below
            yield from walk(entry, prefix + str(entry.pattern), names)
            continue
        assert isinstance(entry, URLPattern)
        view = entry.callback
        cls = getattr(view, "cls", None)
        yield Route(
            name=entry.name,
            route=prefix + str(entry.pattern),
            params=names,
            resource=RESOURCE_OF.get(cls),
            actions=tuple(sorted((getattr(view, "actions", None) or {}).items())),
            drf=cls is not None and issubclass(cls, APIView),
        )


ROUTES = list(walk(get_resolver()))


@dataclasses.dataclass(frozen=True)
class Write:
    """A write operation: a method a viewset maps to create, update or destroy."""

    route: Route
    method: str
    hard: bool = False
    #: The viewset action, where the method alone does not say it (a takedown is a POST).
    action: str = ""

    @property
    def resource(self) -> str:
        return self.route.resource

    @property
    def detail(self) -> bool:
        return "slug" in self.route.params

    @property
    def id(self) -> str:
        if self.action == "takedown":
            return f"{self.resource}-takedown"
        return f"{self.resource}-{self.method}" + ("-hard" if self.hard else "")

    def path(self, slug: str | None = None) -> str:
        query = {"reason": REASON, **({"hard": "true"} if self.hard else {})}
        return self.route.path(slug, **query)


def writes(suffixed: bool) -> list[Write]:
    found = []
    for route in ROUTES:
        if route.resource is None or route.suffixed != suffixed:
            continue
        for method, _action in route.actions:
            if method in UNSAFE:
                found.append(Write(route, method, action=_action))
                if method == "delete":
                    found.append(Write(route, method, hard=True))
    return found


#: Every write operation of the API (POST on a list; PUT, PATCH, DELETE and DELETE ?hard=true
#: on a detail), as the URL resolver gives them; a new resource is in the matrix by itself.
WRITES = writes(suffixed=False)
#: The same operations through a format suffix (/api/v1/groups.json).
SUFFIXED_WRITES = writes(suffixed=True)
#: Every other (route, unsafe method) pair: no such request may write anything.
OTHER_UNSAFE = [
    (route, method) for route in ROUTES for method in UNSAFE if method not in dict(route.actions)
]


# --- Callers, records, bodies, state ----------------------------------------------------------


_names = itertools.count(1)


def username(kind: str) -> str:
    return f"sec-{kind}-{next(_names)}"


def curator_user(kind: str = "curator", **fields) -> User:
    user = User.objects.create_user(username(kind), **fields)
    user.groups.add(Group.objects.get(name=CURATORS_GROUP))
    return user


def grant_delete(user: User) -> User:
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cryptogroups", codename__startswith="delete_"
        )
    )
    return User.objects.get(pk=user.pk)  # permissions are cached on the instance


def grant_takedown(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="add_takedown"))
    return User.objects.get(pk=user.pk)


def caller(who: str) -> APIClient:
    """A client of one kind: anonymous, or with a token of a user who is not a curator, a
    curator, a curator who was also given the delete permissions, or a superuser (who is no
    curator but holds every permission)."""
    if who == "anonymous":
        return APIClient()
    user = {
        "non_curator": lambda: User.objects.create_user(username("reader")),
        "curator": curator_user,
        "deleter": lambda: grant_delete(curator_user("deleter")),
        "officer": lambda: grant_takedown(curator_user("officer")),
        "superuser": lambda: User.objects.create_superuser(username("root"), None, None),
    }[who]()
    return token_client(user)


def existing(resource: str) -> str:
    """A record of the resource that the public API serves."""
    model = model_of(resource)
    records = model.objects.public() if issubclass(model, Record) else model.objects.all()
    return records.order_by("pk").values_list("slug", flat=True).first()


@functools.cache
def _read(path: str) -> dict:
    response = APIClient().get(path)
    assert response.status_code == 200, (path, response.content)
    return response.json()


def read(resource: str, slug: str) -> dict:
    """The record as the API serves it (the curated dataset is the same in every test)."""
    return dict(_read(f"/api/v1/{resource}/{slug}/"))


def creatable(resource: str, slug: str) -> dict:
    """A valid body for a new record: a published record as read, under a new slug, with its
    unique values made unique, as a draft without citations or links (cheap to write)."""
    body = read(resource, existing(resource))
    body["slug"] = slug
    if has_workflow(resource):
        body["publication_status"] = "draft"
    model = model_of(resource)
    for name, field in VIEWSETS[resource].serializer_class().fields.items():
        if isinstance(body.get(name), list):
            body[name] = []
        if name == "slug" or body.get(name) is None:
            continue
        try:
            model_field = model._meta.get_field(field.source)
        except FieldDoesNotExist:
            continue
        if getattr(model_field, "unique", False):
            body[name] = None if model_field.null else f"{body[name]}-{slug}"
    return body


def fresh(resource: str, slug: str) -> None:
    """A new record that nothing refers to (a hard delete of one that others refer to is a
    409): a draft copy of a published one, written to the database directly (the write API is
    what is tested)."""
    model = model_of(resource)
    record = model.objects.get(slug=existing(resource))
    record.pk = None
    record._state.adding = True
    for field in model._meta.concrete_fields:
        if field.unique and not field.primary_key:
            value = getattr(record, field.attname)
            setattr(record, field.attname, None if field.null else f"{value}-{slug}")
    record.slug = slug
    if has_workflow(resource):
        record.publication_status = "draft"
    record.save()


def curator_read(resource: str, slug: str) -> dict:
    """The record as a curator reads it, whatever its status."""
    query = "?publication_status=draft" if has_workflow(resource) else ""
    response = caller("curator").get(f"/api/v1/{resource}/{slug}/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def snapshot() -> dict:
    """Row counts of every table of the app (records, links, history, changes feed) and of the
    admin's log, in one query, with the dataset's version."""
    app = apps.get_app_config("cryptogroups")
    tables = sorted(model._meta.db_table for model in app.get_models(include_auto_created=True))
    tables.append(LogEntry._meta.db_table)
    counts = ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    version = models.DatasetVersion.current()
    return {**dict(zip(tables, row, strict=True)), "version": (version.counter, version.changed_at)}


def error(response) -> dict:
    """The single error of a response in the API's error shape."""
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    [only] = body["errors"]
    assert set(only) == {"code", "detail", "attr"}, body
    return only


# --- 1. Who may write ---------------------------------------------------------------------


SUCCESS = {"post": 201, "put": 200, "patch": 200, "delete": 204}


def expected_status(write: Write, who: str) -> int:
    if who == "anonymous":
        return 401
    if who == "non_curator":
        return 403
    # A takedown needs its own permission, which curators do not hold.
    if write.action == "takedown":
        return 204 if who in ("officer", "superuser") else 403
    # A hard delete needs the delete permission, which curators do not hold; sources have no
    # retraction, so every delete of one is a hard delete.
    if write.method == "delete" and (write.hard or not has_workflow(write.resource)):
        return 204 if who in ("deleter", "superuser") else 403
    return SUCCESS[write.method]


def matrix() -> list:
    cells = []
    for write in WRITES:
        callers = ["anonymous", "non_curator", "curator"]
        if write.action == "takedown":
            # A curator given the takedown permission may, and a superuser.
            callers += ["officer", "superuser"]
        elif expected_status(write, "curator") == 403:
            # A delete for good: a curator given the delete permissions may, and a superuser.
            callers += ["deleter", "superuser"]
        cells += [pytest.param(write, who, id=f"{write.id}-{who}") for who in callers]
    return cells


def send(client: APIClient, write: Write, slug: str | None, new: bool = False):
    """The write, with a body that is valid, so that a refusal is for want of a right."""
    path = write.path(slug)
    if write.action == "takedown":
        return client.post(path)
    if write.method == "post":
        return client.post(path, creatable(write.resource, "sec-new"), format="json")
    if write.method == "put":
        record = curator_read(write.resource, slug) if new else read(write.resource, slug)
        body = {**record, "slug": f"{slug}-renamed"}
        return client.put(path, body, format="json")
    if write.method == "patch":
        return client.patch(path, {"slug": f"{slug}-renamed"}, format="json")
    return client.delete(path)


def test_the_matrix_covers_every_resource_and_write():
    assert {w.resource for w in WRITES} == set(VIEWSETS)
    for resource in VIEWSETS:
        ids = {w.id for w in WRITES if w.resource == resource}
        assert ids == {f"{resource}-{m}" for m in (*UNSAFE, "delete-hard", "takedown")}


def test_the_schema_documents_no_write_the_matrix_misses():
    """Every unsafe operation the OpenAPI schema documents is in the matrix, and the reverse."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {
        (path, method)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in UNSAFE
    }
    covered = {
        (write.route.path("x-slug-x").replace("x-slug-x", "{slug}"), write.method)
        for write in WRITES
    }
    assert documented == covered


@pytest.mark.parametrize(("write", "who"), matrix())
def test_write_matrix(write, who):
    model, resource = model_of(write.resource), write.resource
    status = expected_status(write, who)
    slug = None
    if write.detail and status < 400:
        # A new record that nothing refers to (a hard delete of one that others refer to is a
        # 409), and a draft, which is cheap to change.
        slug = "sec-fresh"
        fresh(resource, slug)
    elif write.detail:
        slug = existing(resource)  # a published record of the curated dataset
    client = caller(who)
    before = snapshot()

    response = send(client, write, slug, new=slug == "sec-fresh")

    assert response.status_code == status, response.content
    if status >= 400:
        found = error(response)
        assert found["code"] == ("not_authenticated" if status == 401 else "permission_denied")
        if status == 401:
            assert response["WWW-Authenticate"] == "Token"
        assert snapshot() == before
        if slug:
            assert model.objects.filter(slug=slug).exists()
            assert not model.objects.filter(slug=f"{slug}-renamed").exists()
            if has_workflow(resource):
                assert model.objects.get(slug=slug).publication_status == "published"
        assert not model.objects.filter(slug="sec-new").exists()
        return
    assert snapshot() != before  # the write saved something (a draft moves no public version)
    if write.action == "takedown":
        assert not model.objects.filter(slug=slug).exists()
        assert not model.history.filter(slug=slug).exists()
    elif write.method == "post":
        record = model.objects.get(slug="sec-new")
        assert record.history.latest("history_date").history_user.username.startswith("sec-")
    elif write.method in ("put", "patch"):
        assert model.objects.filter(slug=f"{slug}-renamed").exists()
        assert not model.objects.filter(slug=slug).exists()
    elif write.hard or not has_workflow(resource):
        assert not model.objects.filter(slug=slug).exists()
    else:
        assert model.objects.get(slug=slug).publication_status == "retracted"


@pytest.mark.parametrize("who", ["anonymous", "non_curator"])
def test_writes_through_a_format_suffix_are_refused_alike(who):
    assert {w.id for w in SUFFIXED_WRITES} == {w.id for w in WRITES}
    client = caller(who)
    before = snapshot()
    for write in SUFFIXED_WRITES:
        response = send(client, write, existing(write.resource) if write.detail else None)
        assert response.status_code == expected_status(write, who), (write.path(), response)
    assert snapshot() == before


@pytest.mark.parametrize("who", ["anonymous", "non_curator", "curator"])
def test_no_other_route_takes_an_unsafe_method(who):
    """The changes feed, histories, the API root, the schema, the docs and the probes offer no
    write: a curator gets a 405 from every API view, others are refused before that."""
    assert {route.name for route, _ in OTHER_UNSAFE} >= {
        "changes",
        "api-root",
        "schema",
        "swagger-ui",
        "redoc",
        "healthz",
        "readyz",
        *(f"{basename}-history" for _prefix, _viewset, basename in router.registry),
    }
    client = caller(who)
    before = snapshot()
    wrong = []
    for route, method in OTHER_UNSAFE:
        path = route.path(existing(route.resource) if "slug" in route.params else None)
        response = getattr(client, method)(path, {"slug": "sec-other"}, format="json")
        status = response.status_code
        if route.drf:
            allowed = {"anonymous": {401, 405}, "non_curator": {403, 405}, "curator": {405}}[who]
            if status == 401 and response.get("WWW-Authenticate") != "Token":
                wrong.append((method, path, "no challenge"))
        else:
            allowed = {405, 301, 302}  # Django views: not allowed, or a redirect (/)
        if status not in allowed:
            wrong.append((method, path, status))
    assert wrong == []
    assert snapshot() == before


def test_a_deactivated_curators_token_stops_working():
    user = curator_user()
    client = token_client(user)
    path = f"/api/v1/organizations/{existing('organizations')}/?reason={REASON}"
    assert client.patch(path, {"name": "Renamed once"}, format="json").status_code == 200
    user.is_active = False
    user.save()
    before = snapshot()
    response = client.patch(path, {"name": "Renamed twice"}, format="json")
    assert response.status_code == 401
    assert error(response)["code"] == "authentication_failed"
    assert snapshot() == before


def test_a_curator_taken_out_of_the_group_is_refused_at_once():
    user = curator_user()
    client = token_client(user)
    user.groups.clear()
    before = snapshot()
    response = client.post(
        "/api/v1/organizations/?reason=x", creatable("organizations", "sec-x"), format="json"
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_a_method_override_header_is_not_obeyed():
    """X-HTTP-Method-Override does not turn a refused POST into a read, nor a read into a
    delete."""
    slug = existing("organizations")
    before = snapshot()
    refused = APIClient().post(
        "/api/v1/organizations/?reason=x",
        creatable("organizations", "sec-x"),
        format="json",
        HTTP_X_HTTP_METHOD_OVERRIDE="GET",
    )
    assert refused.status_code == 401
    read_only = caller("curator").get(
        f"/api/v1/organizations/{slug}/", HTTP_X_HTTP_METHOD_OVERRIDE="DELETE"
    )
    assert read_only.status_code == 200
    assert models.Organization.objects.get(slug=slug).publication_status == "published"
    assert snapshot() == before


# --- 2. Session writes need the CSRF token --------------------------------------------------


def session_write(client: Client, method: str, slug: str, **headers):
    path = f"/api/v1/organizations/{slug}/?reason={REASON}"
    if method == "post":
        path = f"/api/v1/organizations/?reason={REASON}"
        return client.post(
            path, creatable("organizations", "sec-session"), format="json", **headers
        )
    if method == "put":
        body = {**read("organizations", slug), "name": "Renamed in a session"}
        return client.put(path, body, format="json", **headers)
    if method == "patch":
        return client.patch(path, {"name": "Renamed in a session"}, format="json", **headers)
    return client.delete(path, **headers)


@pytest.mark.parametrize("method", UNSAFE)
def test_a_session_write_needs_the_csrf_token(method):
    """A curator logged in with a session (the admin's login) writes only with the CSRF token
    of the session, from the same origin: a page on another site cannot write in their name."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator_user())
    slug = existing("organizations")
    before = snapshot()

    refused = session_write(client, method, slug)
    assert refused.status_code == 403, refused.content
    assert refused["Content-Type"] == "application/json"
    found = error(refused)
    assert found["code"] == "permission_denied"
    assert "CSRF" in found["detail"]

    client.get("/api/v1/organizations/", HTTP_ACCEPT="text/html")  # the page sets the cookie
    token = client.cookies["csrftoken"].value
    wrong = session_write(client, method, slug, HTTP_X_CSRFTOKEN="x" * len(token))
    assert wrong.status_code == 403
    assert "CSRF" in error(wrong)["detail"]
    elsewhere = session_write(
        client, method, slug, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://elsewhere.example"
    )
    assert elsewhere.status_code == 403
    assert "CSRF" in error(elsewhere)["detail"]
    assert snapshot() == before

    accepted = session_write(client, method, slug, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == SUCCESS[method], accepted.content
    assert snapshot() != before


def organization_form(organization: models.Organization, **changes) -> dict:
    """The admin's change form of an organisation, filled in, with no inline rows."""
    prefix = "cryptogroups-citation-content_type-object_id"
    return {
        "slug": organization.slug,
        "name": organization.name,
        "org_type": organization.org_type,
        "country": organization.country,
        "publication_status": organization.publication_status,
        "change_reason": REASON,
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        **changes,
    }


def change_url(record) -> str:
    return f"/admin/cryptogroups/{record._meta.model_name}/{record.pk}/change/"


def test_the_admin_change_form_needs_the_csrf_token():
    draft = f.organization(publication_status="draft")
    client = Client(enforce_csrf_checks=True)
    client.force_login(curator_user(is_staff=True))
    before = snapshot()

    refused = client.post(change_url(draft), organization_form(draft, name="Renamed"))
    assert refused.status_code == 403
    assert snapshot() == before
    draft.refresh_from_db()
    assert draft.name != "Renamed"

    assert client.get(change_url(draft)).status_code == 200  # the form sets the cookie
    token = client.cookies["csrftoken"].value
    form = organization_form(draft, name="Renamed", csrfmiddlewaretoken=token)
    accepted = client.post(change_url(draft), form)
    assert accepted.status_code == 302, accepted.content
    draft.refresh_from_db()
    assert draft.name == "Renamed"


# --- 3. The admin is for staff ----------------------------------------------------------------


def admin_session(who: str) -> Client:
    client = Client()
    user = {
        "anonymous": lambda: None,
        "curator": curator_user,  # not staff
        "superuser_not_staff": lambda: User.objects.create_user(
            username("root"), is_superuser=True, is_staff=False
        ),
        "inactive_staff_curator": lambda: curator_user(is_staff=True, is_active=False),
        "staff_curator": lambda: curator_user(is_staff=True),
    }[who]()
    if user is not None:
        client.force_login(user)
    return client


def admin_pages(record) -> dict[str, str]:
    changelist = f"/admin/cryptogroups/{record._meta.model_name}/"
    return {
        "index": "/admin/",
        "app": "/admin/cryptogroups/",
        "changelist": changelist,
        "add": f"{changelist}add/",
        "change": change_url(record),
        "history": f"{changelist}{record.pk}/history/",
        "delete": f"{changelist}{record.pk}/delete/",
        "autocomplete": "/admin/autocomplete/?app_label=cryptogroups&model_name=citation"
        "&field_name=source&term=china",
    }


#: What a staff curator gets: everything but deleting (curators hold no delete permission).
STAFF_CURATOR = {
    "index": 200,
    "app": 200,
    "changelist": 200,
    "add": 200,
    "change": 200,
    "history": 200,
    "delete": 403,
    "autocomplete": 200,
}


@pytest.mark.parametrize(
    "who",
    ["anonymous", "curator", "superuser_not_staff", "inactive_staff_curator", "staff_curator"],
)
def test_only_active_staff_enter_the_admin(who):
    """Django lets into the admin only active staff users: not a curator who is not staff, not
    even a superuser who is not staff, nor a staff user once deactivated (their session no
    longer authenticates). Those are sent to the login page."""
    client = admin_session(who)
    record = models.Organization.objects.get(slug=existing("organizations"))
    for page, path in admin_pages(record).items():
        response = client.get(path)
        if who == "staff_curator":
            assert response.status_code == STAFF_CURATOR[page], page
        else:
            assert response.status_code == 302, page
            assert response["Location"].startswith("/admin/login/?next="), page


@pytest.mark.parametrize(
    "who",
    ["anonymous", "curator", "superuser_not_staff", "inactive_staff_curator", "staff_curator"],
)
def test_only_active_staff_change_anything_through_the_admin(who):
    draft = f.organization(publication_status="draft")
    name = draft.name
    f.cite(draft)
    client = admin_session(who)
    changelist = "/admin/cryptogroups/organization/"
    before = snapshot()

    saved = client.post(change_url(draft), organization_form(draft, name="Renamed"))
    published = client.post(changelist, {"action": "publish", "_selected_action": [draft.pk]})
    deleted = client.post(
        changelist, {"action": "delete_selected", "_selected_action": [draft.pk], "post": "yes"}
    )
    removed = client.post(f"{changelist}{draft.pk}/delete/", {"post": "yes"})

    draft.refresh_from_db()
    if who != "staff_curator":
        for response in (saved, published, deleted, removed):
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")
        assert snapshot() == before
        assert (draft.name, draft.publication_status) == (name, "draft")
        return
    assert saved.status_code == 302
    assert (draft.name, draft.publication_status) == ("Renamed", "published")
    # No delete permission: the bulk delete is not offered, and the delete page refuses.
    assert removed.status_code == 403
    assert models.Organization.objects.filter(pk=draft.pk).exists()
    assert deleted.status_code in (200, 302)


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
@pytest.mark.parametrize(("staff", "logged_in"), [(False, False), (True, True)])
def test_the_admin_login_takes_staff_only(staff, logged_in):
    user = curator_user(is_staff=staff)
    user.set_password("correct horse")
    user.save()
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": user.username,
            "password": "correct horse",  # pragma: allowlist secret
            "next": "/admin/",
        },
    )
    assert (response.status_code == 302) is logged_in
    if not logged_in:
        assert "staff account" in response.content.decode()
    assert (client.get("/admin/").status_code == 200) is logged_in


# --- 4. Unpublished records never show -------------------------------------------------------

MARKER = "zqhidden"
#: A slug that no record has.
NOWHERE = f"{MARKER}-nowhere"

#: Published records of the curated dataset that the hidden records below are linked to.
LINKED = {
    "organizations": "tencent",
    "platforms": "telegram",
    "exchanges": "okcoin",
    "groups": "okcoin-telegram-group",
    "regulatory-actions": "cn-2017-ico-ban",
    "exchange-responses": "okcoin-halt-cny-trading-2017",
    "migrations": "wechat-to-telegram-2017",
}

#: What make_hidden() writes, by resource: drafts, retracted records, and published records
#: that are not public because a record they depend on is not. Every slug and name holds MARKER.
HIDDEN = {
    "organizations": ["zqhidden-org-draft", "zqhidden-org-retracted", "zqhidden-org-child"],
    "platforms": [
        "zqhidden-platform-draft",
        "zqhidden-platform-retracted",
        "zqhidden-platform-operated",
    ],
    "exchanges": [
        "zqhidden-exchange-draft",
        "zqhidden-exchange-retracted",
        "zqhidden-exchange-operated",
    ],
    "regulatory-actions": [
        "zqhidden-action-draft",
        "zqhidden-action-retracted",
        "zqhidden-action-superseding",
    ],
    "platform-availabilities": ["zqhidden-availability-draft", "zqhidden-availability-on-draft"],
    "exchange-responses": ["zqhidden-response-draft", "zqhidden-response-on-draft"],
    "groups": ["zqhidden-group-draft", "zqhidden-group-on-draft"],
    "migrations": [
        "zqhidden-migration-draft",
        "zqhidden-migration-from-draft",
        "zqhidden-migration-of-draft-group",
    ],
}


def linked(resource: str):
    return model_of(resource).objects.get(slug=LINKED[resource])


def make_hidden(*, flush: bool = False) -> None:
    """Write the HIDDEN records, each named with MARKER, and link published records to them:
    a group to a draft exchange (as its official exchange), an action to a draft issuer, a
    draft platform and a retracted exchange as targets, a response and a migration to a draft
    action, a platform to a draft availability, an exchange to a draft response. With
    ``flush``, then bring the changes feed up to date, as happens once the transaction
    commits."""
    draft, retracted = {"publication_status": "draft"}, {"publication_status": "retracted"}
    operator, telegram, okcoin = linked("organizations"), linked("platforms"), linked("exchanges")
    wechat = models.Platform.objects.exclude(pk=telegram.pk).public().first()
    source = models.Source.objects.get(slug=existing("sources"))

    org = f.organization(slug="zqhidden-org-draft", **draft)
    f.cite(org, source=source, quote=f"{MARKER} is cited")
    f.organization(slug="zqhidden-org-retracted", **retracted)
    f.organization(slug="zqhidden-org-child", parent=org)
    platform = f.platform(slug="zqhidden-platform-draft", operator=operator, **draft)
    f.platform(slug="zqhidden-platform-retracted", **retracted)
    f.platform(slug="zqhidden-platform-operated", operator=org)
    exchange = f.exchange(slug="zqhidden-exchange-draft", operator=operator, **draft)
    gone = f.exchange(slug="zqhidden-exchange-retracted", **retracted)
    f.exchange(slug="zqhidden-exchange-operated", operator=org)
    action = f.action(slug="zqhidden-action-draft", **draft)
    f.action(slug="zqhidden-action-retracted", **retracted)
    f.action(slug="zqhidden-action-superseding", supersedes=action)
    f.availability(
        slug="zqhidden-availability-draft",
        platform=telegram,
        jurisdiction="KP",
        description=MARKER,
        **draft,
    )
    f.availability(slug="zqhidden-availability-on-draft", platform=platform, jurisdiction="KP")
    f.response(
        slug="zqhidden-response-draft",
        exchange=okcoin,
        response_type="close_website",
        description=MARKER,
        **draft,
    )
    f.response(slug="zqhidden-response-on-draft", exchange=exchange, response_type="close_website")
    group = f.group(slug="zqhidden-group-draft", platform=telegram, **draft)
    f.group(slug="zqhidden-group-on-draft", platform=platform)
    f.migration(
        slug="zqhidden-migration-draft", from_platform=wechat, to_platform=telegram, **draft
    )
    f.migration(slug="zqhidden-migration-from-draft", from_platform=platform, to_platform=telegram)
    f.migration(
        slug="zqhidden-migration-of-draft-group",
        from_platform=wechat,
        to_platform=telegram,
        from_group=group,
    )

    models.GroupExchange.objects.create(
        group=linked("groups"), exchange=exchange, affiliation="official"
    )
    action_linked = linked("regulatory-actions")
    models.ActionIssuer.objects.create(action=action_linked, organization=org, role="enforcer")
    models.ActionTarget.objects.create(action=action_linked, platform=platform, effect="blocked")
    models.ActionTarget.objects.create(action=action_linked, exchange=gone, effect="prohibited")
    linked("exchange-responses").actions.add(action)
    linked("migrations").drivers.add(action)
    if flush:
        feed.flush()


def answer(client, path: str, **headers) -> tuple[int, object]:
    response = client.get(path, **headers)
    body = response.json() if response["Content-Type"] == "application/json" else response.content
    return response.status_code, body


def test_the_hidden_records_exist_and_curators_find_them():
    """The hidden records are there, and a search for MARKER finds them all for a curator who
    asks for every status: the tests below, which find none, do not pass for want of data."""
    make_hidden()
    client = caller("curator")
    every = urlencode({"publication_status": ["draft", "published", "retracted"]}, doseq=True)
    for resource, slugs in HIDDEN.items():
        body = client.get(f"/api/v1/{resource}/?search={MARKER}&page_size=100&{every}").json()
        assert sorted(record["slug"] for record in body["results"]) == sorted(slugs), resource
        public = model_of(resource).objects.public()
        assert not public.filter(slug__startswith=MARKER).exists()
        assert set(
            model_of(resource)
            .objects.filter(slug__startswith=MARKER)
            .values_list("slug", flat=True)
        ) == set(slugs)


def probes(resource: str) -> list[str]:
    """Query strings of the resource's list that could select a hidden record: every filter
    with every value that matters (each hidden slug of the related resource, a slug no record
    has, a linked published slug; each choice; codes the hidden records carry; wide ranges),
    a search for MARKER and every ordering. A filter of a kind this does not know fails the
    test, so that a new filter is looked at."""
    viewset = VIEWSETS[resource]
    model_resources = {model_of(r): r for r in VIEWSETS}
    record = model_of(resource).objects.get(slug=existing(resource))
    queries: list[dict] = [{}]
    for name, filter_ in viewset.filterset_class.base_filters.items():
        if isinstance(filter_, SlugFilter):
            target = model_resources[filter_.queryset.model]
            slugs = [*HIDDEN.get(target, []), NOWHERE, LINKED.get(target) or existing(target)]
            queries += [{name: slug} for slug in slugs]
        elif "choices" in filter_.extra:
            queries += [{name: value} for value, _label in filter_.extra["choices"]]
        elif isinstance(filter_, CountryFilter):
            queries += [{name: "CN"}, {name: "KP"}]
        elif isinstance(filter_, LanguageFilter):
            queries += [{name: "zh"}, {name: "en"}]
        elif isinstance(filter_, SubdivisionFilter):
            queries += [{name: "CN-SH"}]
        elif isinstance(filter_, django_filters.DateFromToRangeFilter):
            queries += [{f"{name}_after": "1900-01-01"}, {f"{name}_before": "2100-12-31"}]
        elif isinstance(filter_, django_filters.RangeFilter):
            queries += [{f"{name}_min": "0"}, {f"{name}_max": str(10**12)}]
        elif isinstance(filter_, django_filters.CharFilter):
            queries += [{name: getattr(record, filter_.field_name)}]
        else:
            pytest.fail(f"{resource}: a filter this test does not know: {name} {filter_!r}")
    queries.append({"search": MARKER})
    queries.append({"ordering": ",".join(viewset.ordering_fields)})
    queries.append({"ordering": ",".join(f"-{field}" for field in viewset.ordering_fields)})
    # One record a page: a record that shows where it should not changes the count.
    return [urlencode({**query, "page_size": 1}) for query in queries]


@pytest.mark.parametrize("resource", list(VIEWSETS))
def test_no_filter_search_or_ordering_reveals_a_hidden_record(resource):
    """Every list query answers exactly the same, status and body (count, first result),
    before the hidden records exist and after, to an anonymous client and to one with a token
    but no permission. A hidden record's slug in a filter is a 400 "not one of the available
    choices", word for word the answer for a slug that no record has."""
    paths = [f"/api/v1/{resource}/?{query}" for query in probes(resource)]
    anonymous, reader = caller("anonymous"), caller("non_curator")
    before = {path: answer(anonymous, path) for path in paths}
    assert {status for status, _ in before.values()} <= {200, 400}

    make_hidden()

    for client in (anonymous, reader):
        after = {path: answer(client, path) for path in paths}
        differ = [path for path in paths if after[path] != before[path]]
        assert differ == []
        for path, (status, body) in after.items():
            if status == 200:
                assert MARKER not in str(body).lower(), path


def public_view(client) -> dict[str, tuple[int, object]]:
    """Everything public about the linked records: every list in full, and the linked records'
    details and histories."""
    view = {}
    paths = [f"/api/v1/{resource}/?page_size=100" for resource in VIEWSETS]
    for resource, slug in LINKED.items():
        paths += [f"/api/v1/{resource}/{slug}/", f"/api/v1/{resource}/{slug}/history/"]
    while paths:
        path = paths.pop(0)
        view[path] = answer(client, path)
        status, body = view[path]
        assert status == 200, (path, body)
        if body.get("next"):
            paths.append(body["next"].removeprefix("http://testserver"))
    return view


def test_published_records_show_nothing_of_the_hidden_records_they_link_to():
    """Lists, details and histories are the same, byte for byte, before and after hidden
    records are linked to published ones: embedded lists leave them out, and so does a history
    (an entry for a link to a draft would say that something unseen changed). Curators see the
    same, unless they ask for other statuses."""
    before = public_view(caller("anonymous"))
    make_hidden()
    for who in ("anonymous", "non_curator", "curator"):
        after = public_view(caller(who))
        assert [path for path in before if after[path] != before[path]] == [], who
        assert MARKER not in str(after).lower()


@pytest.mark.parametrize("who", ["anonymous", "non_curator"])
def test_a_hidden_record_answers_as_one_that_does_not_exist(who):
    make_hidden()
    client = caller(who)
    volatile = {"X-Request-ID", "RateLimit-Remaining", "RateLimit-Reset"}
    for resource, slugs in HIDDEN.items():
        for suffix in ("", "history/"):
            missing = client.get(f"/api/v1/{resource}/{NOWHERE}/{suffix}")
            assert missing.status_code == 404
            for slug in slugs:
                response = client.get(f"/api/v1/{resource}/{slug}/{suffix}")
                assert response.status_code == 404, (resource, slug, suffix)
                assert response.json() == missing.json()
                assert set(response.headers) - volatile == set(missing.headers) - volatile
                if not suffix:
                    html = client.get(f"/api/v1/{resource}/{slug}/", HTTP_ACCEPT="text/html")
                    assert html.status_code == 404
                    assert f"{MARKER}-" not in html.content.decode().replace(slug, "")


@pytest.mark.parametrize("who", ["anonymous", "non_curator"])
def test_unpublished_statuses_are_for_curators_only(who):
    """``publication_status`` other than published: 401 with a challenge without credentials,
    403 without the permission, on every list, detail and history, in JSON and in the
    browsable API; and a curator's answer is never served to others from the cache."""
    make_hidden()
    client = caller(who)
    status, code = (401, "not_authenticated") if who == "anonymous" else (403, "permission_denied")
    curator = caller("curator")
    for resource in [r for r in VIEWSETS if has_workflow(r)]:
        slug = HIDDEN[resource][0]
        for path in [
            f"/api/v1/{resource}/",
            f"/api/v1/{resource}/{slug}/",
            f"/api/v1/{resource}/{slug}/history/",
        ]:
            for statuses in (["draft"], ["retracted", "published"]):
                query = "?" + urlencode({"publication_status": statuses}, doseq=True)
                response = client.get(path + query)
                assert response.status_code == status, (path, query)
                assert error(response)["code"] == code
                if status == 401:
                    assert response["WWW-Authenticate"] == "Token"
        # The browsable API alike; and a curator's answer is not served to others after it.
        query = "?publication_status=draft"
        path = f"/api/v1/{resource}/"
        html = client.get(path + query, HTTP_ACCEPT="text/html")
        assert html.status_code == status
        assert MARKER not in html.content.decode()
        assert curator.get(path + query).status_code == 200, path
        assert client.get(path + query).status_code == status
    assert curator.get("/api/v1/organizations/?publication_status=draft")["Cache-Control"] == (
        "private"
    )


@pytest.mark.parametrize("who", ["anonymous", "non_curator_session"])
def test_the_browsable_api_and_options_show_nothing_hidden(who):
    """The HTML pages (with their forms) and OPTIONS answers: a form or a description that
    listed the records a field may point to would list drafts too."""
    make_hidden()
    if who == "non_curator_session":
        client = Client()
        client.force_login(User.objects.create_user(username("reader")))
    else:
        client = caller(who)
    paths = [f"/api/v1/{resource}/" for resource in VIEWSETS]
    paths += [f"/api/v1/{resource}/{slug}/" for resource, slug in LINKED.items()]
    for path in paths:
        for response in (client.get(path, HTTP_ACCEPT="text/html"), client.options(path)):
            assert response.status_code == 200, path
            assert MARKER not in response.content.decode().lower(), path


def test_the_changes_feed_never_names_a_hidden_record():
    """Not an entry, not even a tombstone: a draft written, renamed, retracted and deleted for
    good through the write API (which appends to the feed in its own transaction), and the
    hidden records and links, leave the feed as it was."""
    anonymous = caller("anonymous")

    def feed() -> list[dict]:
        entries, path = [], "/api/v1/changes/?page_size=500"
        while path:
            page = anonymous.get(path).json()
            entries += page["results"]
            path = page["next"]
        return entries

    before = feed()
    make_hidden(flush=True)
    deleter = caller("deleter")
    path = f"/api/v1/organizations/?reason={REASON}"
    body = creatable("organizations", f"{MARKER}-org-written")
    assert deleter.post(path, body, format="json").status_code == 201
    detail = f"/api/v1/organizations/{MARKER}-org-written/?reason={REASON}"
    renamed = {"slug": f"{MARKER}-org-renamed", "name": f"{MARKER} renamed"}
    assert deleter.patch(detail, renamed, format="json").status_code == 200
    detail = f"/api/v1/organizations/{MARKER}-org-renamed/?reason={REASON}"
    assert deleter.delete(detail).status_code == 204
    assert deleter.delete(f"{detail}&hard=true").status_code == 204
    # A published group on a draft platform is not public, so not in the feed either.
    group = {
        **creatable("groups", f"{MARKER}-group-written"),
        "platform": HIDDEN["platforms"][0],
        "publication_status": "published",
        "citations": [
            {
                "source": existing("sources"),
                "quote": "Quoted.",
                "verbatim": False,
                "support": "stated",
            }
        ],
    }
    written = deleter.post(f"/api/v1/groups/?reason={REASON}", group, format="json")
    assert written.status_code == 201, written.content

    after = feed()
    assert after == before
    assert MARKER not in str(after).lower()


def test_a_hidden_edit_changes_no_public_body():
    """Editing a draft changes nothing the public reads.

    It does move the dataset's version, and with it every ETag and Last-Modified (the version
    is one counter for the whole dataset, moved by every save): a client that polls with
    If-None-Match learns that something changed at that time, never what, nor whether it was
    public. That is accepted: the same version tags the curators' views of drafts, which must
    move with a draft edit; keeping the public tags still would take a second version, moved
    only by changes to the public dataset."""
    make_hidden()
    anonymous, curator = caller("anonymous"), caller("curator")
    paths = [f"/api/v1/{resource}/?page_size=100" for resource in VIEWSETS]
    paths += [f"/api/v1/{resource}/{slug}/" for resource, slug in LINKED.items()]
    before = {path: answer(anonymous, path) for path in paths}
    for resource in ("organizations", "platforms", "exchanges"):
        path = f"/api/v1/{resource}/{HIDDEN[resource][0]}/?reason={REASON}"
        edit = {"name": f"{MARKER} edited", "description": f"{MARKER} edited"}
        assert curator.patch(path, edit, format="json").status_code == 200
    assert {path: answer(anonymous, path) for path in paths} == before


# --- 5. A forged address gets no fresh budget -------------------------------------------------


def rate_limited(proxies: int):
    """Three requests a day for an anonymous client (read on each request by api.throttling),
    with ``proxies`` proxies in front of the app."""
    return override_settings(
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": "3/day", "user": "off"},
            "NUM_PROXIES": proxies,
        }
    )


#: Headers a client may send to pass for another address; {n} makes each request different.
FORGED = {
    "x-forwarded-for": {"HTTP_X_FORWARDED_FOR": "203.0.113.{n}"},
    "x-forwarded-for-chain": {"HTTP_X_FORWARDED_FOR": "203.0.113.{n}, 198.51.100.{n}"},
    "x-real-ip": {"HTTP_X_REAL_IP": "203.0.113.{n}"},
    "forwarded": {"HTTP_FORWARDED": "for=203.0.113.{n}"},
    "client-ip": {
        "HTTP_CLIENT_IP": "203.0.113.{n}",
        "HTTP_TRUE_CLIENT_IP": "203.0.113.{n}",
        "HTTP_CF_CONNECTING_IP": "203.0.113.{n}",
    },
}
LIMITED = "/api/v1/organizations/?page_size=1"


@pytest.mark.parametrize("forged", list(FORGED))
def test_a_forged_address_gets_no_fresh_budget(forged):
    """Without proxies declared (NUM_PROXIES=0, the default) the client's address is the
    peer's: headers naming another address are the client's own words, and change nothing."""
    client = APIClient()
    with rate_limited(proxies=0):
        assert [client.get(LIMITED).status_code for _ in range(3)] == [200, 200, 200]
        assert client.get(LIMITED).status_code == 429
        for n in range(1, 4):
            headers = {name: value.format(n=n) for name, value in FORGED[forged].items()}
            response = client.get(LIMITED, **headers)
            assert response.status_code == 429, headers
            assert error(response)["code"] == "throttled"
        # Another peer has a budget of its own: the limit is per address, not for everyone.
        assert client.get(LIMITED, REMOTE_ADDR="192.0.2.10").status_code == 200


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw():
    """With one proxy declared, the address is the last of X-Forwarded-For, the one the proxy
    appended; what the client wrote before it is ignored."""
    client = APIClient(REMOTE_ADDR="10.0.0.254")  # the proxy
    with rate_limited(proxies=1):
        for _ in range(3):
            assert client.get(LIMITED, HTTP_X_FORWARDED_FOR="192.0.2.10").status_code == 200
        assert client.get(LIMITED, HTTP_X_FORWARDED_FOR="192.0.2.10").status_code == 429
        for forged in ("203.0.113.7, 192.0.2.10", "192.0.2.11, 203.0.113.7, 192.0.2.10"):
            assert client.get(LIMITED, HTTP_X_FORWARDED_FOR=forged).status_code == 429
        assert client.get(LIMITED, HTTP_X_FORWARDED_FOR="192.0.2.11").status_code == 200


# --- 6. Answers give nothing of the server away -----------------------------------------------


def leaks(text: str) -> list[str]:
    """What an answer must never hold: a traceback, source paths, SQL, the database driver,
    the secret key."""
    needles = [
        "Traceback",
        'File "',
        str(settings.BASE_DIR),
        "site-packages",
        "SELECT ",
        " FROM ",
        "sqlite3",
        "psycopg",
        "django.db",
        settings.SECRET_KEY,
    ]
    return [needle for needle in needles if needle in text]


def assert_discreet(response) -> None:
    assert leaks(response.content.decode(errors="replace")) == []
    assert "X-Powered-By" not in response
    for name in ("Server", "Via"):
        assert not any(word in response.get(name, "") for word in ("Python", "Django", "WSGI"))
    assert response["X-Content-Type-Options"] == "nosniff"


def error_requests() -> dict[str, tuple[int, object]]:
    """One request for each error status the API answers, with the status expected."""
    anonymous, reader, curator = caller("anonymous"), caller("non_curator"), caller("curator")
    deleter = caller("deleter")
    slug = existing("organizations")
    detail = f"/api/v1/organizations/{slug}/?reason={REASON}"
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token " + "0f" * 32)
    large = "x" * (settings.MAX_REQUEST_BYTES + 1)
    return {
        "400 unknown parameter": (400, lambda: anonymous.get("/api/v1/groups/?bogus=1")),
        "400 unknown slug": (400, lambda: anonymous.get(f"/api/v1/groups/?platform={NOWHERE}")),
        "400 invalid write": (
            400,
            lambda: curator.patch(detail, {"country": "XX"}, format="json"),
        ),
        "401 anonymous write": (401, lambda: anonymous.patch(detail, {}, format="json")),
        "401 bad token": (401, lambda: bad_token.get("/api/v1/groups/")),
        "403 non-curator write": (403, lambda: reader.patch(detail, {}, format="json")),
        "404 unknown record": (404, lambda: anonymous.get(f"/api/v1/groups/{NOWHERE}/")),
        "404 unknown resource": (404, lambda: anonymous.get("/api/v1/nothing/")),
        "404 unknown path": (404, lambda: anonymous.get("/nowhere/at/all")),
        "404 page past the end": (404, lambda: anonymous.get("/api/v1/groups/?page=999")),
        "405 method": (405, lambda: curator.put("/api/v1/groups/?reason=x", {}, format="json")),
        "406 media type": (
            406,
            lambda: anonymous.get("/api/v1/groups/", HTTP_ACCEPT="application/xml"),
        ),
        "409 still referred to": (
            409,
            lambda: deleter.delete(f"/api/v1/platforms/{LINKED['platforms']}/?reason=x&hard=true"),
        ),
        "412 stale If-Match": (
            412,
            lambda: curator.patch(detail, {}, format="json", HTTP_IF_MATCH='"1-0000"'),
        ),
        "413 body too large": (
            413,
            lambda: curator.post(detail, large, content_type="application/json"),
        ),
        "415 not JSON": (
            415,
            lambda: curator.post(
                f"/api/v1/organizations/?reason={REASON}",
                "slug=x",
                content_type="application/x-www-form-urlencoded",
            ),
        ),
    }


def test_every_error_has_the_one_shape_and_gives_nothing_away():
    assert settings.DEBUG is False  # no debug pages, whatever happens
    before = snapshot()
    for case, (status, send_request) in error_requests().items():
        response = send_request()
        assert response.status_code == status, (case, response.content)
        assert response["Content-Type"] == "application/json", case
        body = response.json()
        assert set(body) == {"type", "errors"}, case
        assert body["errors"], case
        for item in body["errors"]:
            assert set(item) == {"code", "detail", "attr"}, case
        assert_discreet(response)
        if status == 401:
            assert response["WWW-Authenticate"] == "Token", case
    assert snapshot() == before
    unknown = caller("anonymous").get("/nowhere/at/all")
    assert "URLconf" not in unknown.content.decode()
    assert "api/v1/" not in unknown.content.decode()  # the routes are not listed


def failing(monkeypatch, error_: Exception) -> APIClient:
    """A client whose list of organisations fails with the error, deep in the view."""

    def fail(*args, **kwargs):
        raise error_

    monkeypatch.setattr(VIEWSETS["organizations"], "list", fail)
    client = APIClient()
    client.raise_request_exception = False
    return client


def secret_words() -> str:
    return (
        f'SELECT "password" FROM "auth_user" WHERE 1; key {settings.SECRET_KEY}; '
        f'File "{settings.BASE_DIR}/api/views/records.py", line 1'
    )


def test_an_unexpected_error_is_a_bare_500(monkeypatch):
    client = failing(monkeypatch, RuntimeError(secret_words()))
    for accept in ("application/json", "text/html"):
        response = client.get("/api/v1/organizations/", HTTP_ACCEPT=accept)
        assert response.status_code == 500
        assert response["Content-Type"] == "application/json"
        assert response.json()["type"] == "server_error"
        assert error(response)["attr"] is None
        assert_discreet(response)


def test_a_database_outage_is_a_bare_503(monkeypatch):
    outage = OperationalError(f'connection to server at "10.0.0.5" failed: {secret_words()}')
    client = failing(monkeypatch, outage)
    response = client.get("/api/v1/organizations/")
    assert response.status_code == 503
    assert error(response)["code"] == "service_unavailable"
    assert "10.0.0.5" not in response.content.decode()
    assert response["Retry-After"]
    assert_discreet(response)


def test_other_sites_read_the_api_but_never_with_credentials():
    """Browsers on any origin may read the open data; a cross-origin request never carries the
    user's cookies to the API, and a preflight for a write or for a token is not granted."""
    client = APIClient()
    origin = "https://elsewhere.example"
    read_ = client.get("/api/v1/organizations/", HTTP_ORIGIN=origin)
    assert read_["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in read_
    preflight = client.options(
        "/api/v1/organizations/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    methods = preflight.get("Access-Control-Allow-Methods", "").upper()
    headers = preflight.get("Access-Control-Allow-Headers", "").lower()
    assert "POST" not in methods
    assert "authorization" not in headers
    assert "Access-Control-Allow-Credentials" not in preflight
    admin = client.get("/admin/login/", HTTP_ORIGIN=origin)
    assert "Access-Control-Allow-Origin" not in admin
