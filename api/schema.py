"""OpenAPI schema generation: one stable JSON error shape, documented on every operation."""

from __future__ import annotations

import contextlib
import copy

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.formatter import VALIDATION_ERROR
from drf_standardized_errors.formatter import ExceptionFormatter as BaseExceptionFormatter
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ServerErrorEnum,
    ValidationErrorEnum,
)
from drf_standardized_errors.types import ErrorType
from rest_framework import serializers
from rest_framework.exceptions import ParseError

from cryptogroups.choices import PublicationStatus
from cryptogroups.codes import SLUG_PATTERN

from .filters import CODE_ENUMS, MAX_VALUES, SPACE


def enforced_codes(field) -> tuple[str, ...] | None:
    """The closed list of codes a serializer field takes, from its validators or its model
    field's (a read-only field keeps none of its own)."""
    validators = list(getattr(field, "validators", []))
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    source = getattr(field, "source", None)
    if model is not None and source and "." not in source:
        with contextlib.suppress(FieldDoesNotExist):
            validators += getattr(model._meta.get_field(source), "validators", [])
    for code_validator, codes in CODE_ENUMS.items():
        if any(validator is code_validator for validator in validators):
            return codes
    return None


class ErrorSerializer(serializers.Serializer):
    """One problem with the request."""

    code = serializers.CharField(
        help_text="Machine-readable code, for example invalid, invalid_choice or not_found."
    )
    detail = serializers.CharField(help_text="What is wrong, in English.")
    attr = serializers.CharField(
        allow_null=True,
        help_text="The query parameter at fault; null when the error concerns the whole request.",
    )


class ValidationErrorResponseSerializer(serializers.Serializer):
    """A 400: one error per query parameter (or part of one) that was refused."""

    type = serializers.ChoiceField(
        choices=ValidationErrorEnum.choices, help_text="Always validation_error."
    )
    errors = ErrorSerializer(many=True, help_text="Every problem found, one per entry.")


class ClientErrorResponseSerializer(serializers.Serializer):
    """Any other 4xx (401, 403, 404, 405, 406, 413, 415, 429): the request cannot be answered
    as asked. A 429 comes with Retry-After, the seconds until the client's budget renews."""

    type = serializers.ChoiceField(
        choices=ClientErrorEnum.choices, help_text="Always client_error."
    )
    errors = ErrorSerializer(many=True, help_text="The problem, as one entry.")


class ServerErrorResponseSerializer(serializers.Serializer):
    """A 503: the service is briefly unavailable (its database is unreachable). Retry after
    the seconds given in Retry-After; nothing was changed."""

    type = serializers.ChoiceField(
        choices=ServerErrorEnum.choices, help_text="Always server_error."
    )
    errors = ErrorSerializer(many=True, help_text="The problem, as one entry.")


class AutoSchema(StandardizedErrorsAutoSchema):
    """Documents a 400 on every read operation: unknown and repeated query parameters are
    refused on details too, not only invalid filter values on lists."""

    def _should_add_validation_error_response(self) -> bool:
        return True

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        # A body too large (413) is possible only where a body is read.
        if status_code == "413" and self.method not in ("POST", "PUT", "PATCH"):
            return False
        return super()._should_add_error_response(responses, status_code)

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """A code field is an enum of the codes the server accepts, not any short string."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.RelatedField) and field.allow_null:
            schema.pop("minLength", None)  # DRF reads an empty string as null here
        codes = enforced_codes(field)
        if codes is not None:
            schema = {
                key: value
                for key, value in schema.items()
                if key not in ("minLength", "maxLength", "pattern")
            }
            schema.update(type="string", enum=list(codes))
        return schema

    def get_summary(self) -> str | None:
        """A short summary of each operation, from its action and the resource's name."""
        action = getattr(self.view, "action", None)
        queryset = getattr(self.view, "queryset", None)
        if action is None or queryset is None:
            return FEED_SUMMARY if self.get_operation_id() == "changes_list" else None
        opts = queryset.model._meta
        name = str(opts.verbose_name)
        workflow = any(f.name == "publication_status" for f in opts.fields)
        template = SUMMARIES.get(action)
        if action == "destroy" and not workflow:
            template = "Delete {a} {name}"
        if template is None:
            return None
        article = "an" if name[0] in "aeiou" else "a"
        return template.format(a=article, name=name, plural=str(opts.verbose_name_plural))


FEED_SUMMARY = "List the changes to public data"

#: Each action's summary, by the viewset action that serves it.
SUMMARIES = {
    "list": "List {plural}",
    "retrieve": "Read {a} {name}",
    "history": "Read {a} {name}'s history",
    "create": "Create {a} {name}",
    "update": "Replace {a} {name}",
    "partial_update": "Change fields of {a} {name}",
    "destroy": "Retract {a} {name}",
    "takedown": "Take {a} {name} down",
}


#: The description of the ``{slug}`` path parameter of every detail operation.
slug_parameter = OpenApiParameter(
    "slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The record's stable slug, as given in its `slug` field.",
    pattern=SLUG_PATTERN,
)

retrieve_schema = extend_schema(parameters=[slug_parameter])

#: The longest reason a write takes (api.views.writes.MAX_REASON), once stripped of white space.
MAX_REASON = 100

#: Why a curator makes a change: required on every write, kept in the record's history. Its
#: pattern is the server's rule exactly: 1 to 100 characters once white space is stripped from
#: both ends, and no null character (U+FEFF, which ECMAScript's \s takes, is not white space).
REASON_SPACE = rf"(?:(?!\ufeff)[{SPACE}])"
REASON_CHARACTER = rf"(?:[^{SPACE}\x00]|\ufeff)"
reason_parameter = OpenApiParameter(
    "reason",
    {
        "type": "string",
        "minLength": 1,
        "example": "Correct the announcement date",
        "pattern": rf"^{REASON_SPACE}*{REASON_CHARACTER}"
        rf"(?:[^\x00]{{0,{MAX_REASON - 2}}}{REASON_CHARACTER})?{REASON_SPACE}*$",
    },
    OpenApiParameter.QUERY,
    required=True,
    description="Why you make this change, in at most 100 characters; kept in the record's "
    "history with your name and the time.",
)

hard_parameter = OpenApiParameter(
    "hard",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description="true to delete the record for good instead of retracting it. Needs the "
    "model's delete permission, which curators do not hold by default.",
)

publication_status_parameter = OpenApiParameter(
    "publication_status",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    enum=PublicationStatus.values,
    many=True,
    explode=True,
    description="Serve records in these statuses (repeat the parameter for several); "
    "published by default. Draft and retracted records are for curators: without "
    "credentials the answer is a 401, without the view permission a 403.",
)


def write_schema(viewset) -> dict:
    """The write operations of a resource: its write shape in, its read shape out."""
    read, write = viewset.serializer_class, viewset.write_serializer_class
    name = viewset.queryset.model._meta.verbose_name
    workflow = any(f.name == "publication_status" for f in viewset.queryset.model._meta.fields)
    delete_description = (
        f"Retract the {name}: it is kept, with its history, and leaves the public API. With "
        "hard=true, delete it for good."
        if workflow
        else f"Delete the {name} for good (needs the delete permission); a 409 while other "
        "records refer to it."
    )
    reads = (
        dict.fromkeys(
            ["list", "retrieve", "history"],
            extend_schema(parameters=[publication_status_parameter]),
        )
        if workflow
        else {}
    )
    return {
        **reads,
        "create": extend_schema(
            request=write,
            responses={201: read},
            parameters=[reason_parameter],
            description=f"Create a {name} (curators). It is a draft unless publication_status "
            "says published, which needs at least one citation.",
        ),
        "update": extend_schema(
            request=write,
            responses={200: read},
            parameters=[slug_parameter, reason_parameter],
            description=f"Replace the {name} (curators). Lists given replace the record's.",
        ),
        "partial_update": extend_schema(
            request=write,
            responses={200: read},
            parameters=[slug_parameter, reason_parameter],
            description=f"Change some fields of the {name} (curators).",
        ),
        "destroy": extend_schema(
            responses={204: None},
            parameters=[
                slug_parameter,
                reason_parameter,
                *([hard_parameter] if workflow else []),
            ],
            description=delete_description,
        ),
    }


#: Examples for the query parameters users reach for first, by parameter name.
PARAMETER_EXAMPLES = {
    "jurisdiction": "CN",
    "country": "CN",
    "blocked_in": "CN",
    "subdivision": "CN-SH",
    "language": "zh",
    "platform": ["telegram"],
    "from_platform": ["wechat"],
    "to_platform": ["telegram"],
    "exchange": ["btcchina"],
    "issuer": ["pboc"],
    "announced_after": "2017-09-01",
    "announced_before": "2017-09-30",
    "member_count_min": 1000,
    "search": "telegram",
    "page": 1,
    "page_size": 100,
}

#: An example slug for the detail operation of each resource.
SLUG_EXAMPLES = {
    "exchanges": "btcchina",
    "exchange-responses": "btcchina-halt-all-trading-2017",
    "groups": "okcoin-telegram-group",
    "migrations": "wechat-to-telegram-2017",
    "organizations": "pboc",
    "platforms": "telegram",
    "platform-availabilities": "telegram-cn-blocked-2015",
    "regulatory-actions": "cn-2017-group-chat-rules",
    "sources": "star-2017-09-16-wechat-crackdown",
}


def enum_components(schemas: dict) -> dict[frozenset, str]:
    """Each enum component's set of values, mapped to its name."""
    by_values: dict[frozenset, str] = {}
    for name, component in schemas.items():
        if "enum" in component and name != "NullEnum":
            values = frozenset(component["enum"])
            if values in by_values:
                raise ValueError(f"{name} and {by_values[values]} have the same values")
            by_values[values] = name
    return by_values


CONDITIONAL_HEADERS = [
    {
        "in": "header",
        "name": "If-None-Match",
        "required": False,
        "schema": {"type": "string"},
        "description": "An ETag from an earlier response: the answer is a 304 with no body "
        "while the representation is unchanged.",
    },
    {
        "in": "header",
        "name": "If-Modified-Since",
        "required": False,
        "schema": {"type": "string"},
        "description": "An HTTP date, such as an earlier Last-Modified: the answer is a 304 "
        "while the dataset has not changed since (If-None-Match takes precedence).",
    },
]

VALIDATOR_HEADERS = {
    "ETag": {
        "schema": {"type": "string"},
        "description": "Entity tag of this representation; send it back in If-None-Match.",
    },
    "Last-Modified": {
        "schema": {"type": "string"},
        "description": "When the dataset last changed (HTTP date).",
    },
}


IF_MATCH_HEADER = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "The ETag of your last read of the record: the write is refused with a 412 "
    "if the dataset has changed since, so that no one's change is overwritten unseen.",
}


def client_error(description: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ClientErrorResponse"}}
        },
    }


def postprocess_conditional_requests(result: dict, generator, request, public) -> dict:
    """Document the conditional requests every read answers: the request headers, the 304 and
    412 responses, and the validators sent with a 200 and a 304; and If-Match on writes."""
    for item in result.get("paths", {}).values():
        for method in ("put", "patch", "delete"):
            if method in item:
                item[method].setdefault("parameters", []).append(copy.deepcopy(IF_MATCH_HEADER))
                item[method]["responses"]["412"] = client_error(
                    "Precondition failed: If-Match names a version that is no longer current."
                )
        if "delete" in item:
            item["delete"]["responses"]["409"] = client_error(
                "Conflict: other records still refer to the record to delete."
            )
        operation = item.get("get")
        if operation is None:
            continue
        operation.setdefault("parameters", []).extend(copy.deepcopy(CONDITIONAL_HEADERS))
        responses = operation["responses"]
        responses["200"]["headers"] = copy.deepcopy(VALIDATOR_HEADERS)
        responses["304"] = {
            "description": "Not modified: the copy named by If-None-Match or If-Modified-Since "
            "is current. No body.",
            "headers": copy.deepcopy(VALIDATOR_HEADERS),
        }
        responses["412"] = {
            "description": "Precondition failed: an If-Match or If-Unmodified-Since header "
            "names a version that is no longer current.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ClientErrorResponse"}}
            },
        }
    return result


def integer_header(description: str) -> dict:
    return {"schema": {"type": "integer", "minimum": 0}, "description": description}


#: What every throttled response says of the client's budget (api.throttling).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": integer_header("Requests allowed in the current window."),
    "RateLimit-Remaining": integer_header("Requests left in the current window."),
    "RateLimit-Reset": integer_header("Seconds until the current window ends."),
    "RateLimit-Policy": {
        "schema": {"type": "string"},
        "description": 'The limit, its window in seconds and its name: `120;w=60;name="anon"`.',
    },
}
RETRY_AFTER_HEADER = {
    "Retry-After": integer_header("Seconds to wait before retrying."),
}


#: The answers always given before the request is counted (the throttle runs after content
#: negotiation, and the body-size guard before the view): they carry no rate-limit headers.
#: Every other answer of a throttled operation may (a 401 or 403 for the credentials carries
#: none, one for a curator's read of drafts does).
UNCOUNTED_STATUSES = {"406", "411", "413"}


def postprocess_rate_limits(result: dict, generator, request, public) -> dict:
    """Document the rate-limit headers on every response of a throttled operation that
    carries them, and Retry-After on its 429 and 503, as references to shared header
    components."""
    components = result.setdefault("components", {}).setdefault("headers", {})
    components.update(copy.deepcopy({**RATE_LIMIT_HEADERS, **RETRY_AFTER_HEADER}))

    def refs(names) -> dict:
        return {name: {"$ref": f"#/components/headers/{name}"} for name in names}

    for item in result.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if "429" not in responses:
                continue
            for code, response in responses.items():
                if code not in UNCOUNTED_STATUSES:
                    response.setdefault("headers", {}).update(refs(RATE_LIMIT_HEADERS))
                if code in ("429", "503"):
                    response.setdefault("headers", {}).update(refs(RETRY_AFTER_HEADER))
    return result


def postprocess_parameters(result: dict, generator, request, public) -> dict:
    """Make the parameters exact for client generators.

    - Query-parameter enums point at the shared enum components (drf-spectacular leaves them
      inline, and generated clients then get one enum type per operation).
    - A query parameter is never null (drf-spectacular copies ``nullable`` from model fields),
      and a free-text one is never empty and has no null character: the API refuses both.
    - The parameters users reach for first get examples.
    """
    schemas = result.get("components", {}).get("schemas", {})
    by_values = enum_components(schemas)
    for path, item in result.get("paths", {}).items():
        resource = path.removeprefix("/api/v1/").split("/")[0]
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                schema.pop("nullable", None)
                holder = schema["items"] if schema.get("type") == "array" else schema
                if holder.get("type") == "string" and not {"enum", "format", "pattern"} & set(
                    holder
                ):
                    holder["pattern"] = r"^[^\x00]+$"
                if "enum" in holder:
                    name = by_values.get(frozenset(holder["enum"]))
                    if name is None:
                        raise ValueError(f"No enum component for {path} ?{parameter['name']}")
                    holder.clear()
                    holder["$ref"] = f"#/components/schemas/{name}"
                if parameter["in"] == "path" and parameter["name"] == "slug":
                    parameter["example"] = SLUG_EXAMPLES[resource]
                elif parameter["name"] in PARAMETER_EXAMPLES:
                    parameter["example"] = PARAMETER_EXAMPLES[parameter["name"]]
    return result


class ExceptionFormatter(BaseExceptionFormatter):
    """Every 400 is a validation error, a body that is not JSON included (``parse_error``,
    with no attribute): one shape for one status, as the schema documents it."""

    def get_error_type(self) -> ErrorType:
        if isinstance(self.exc, ParseError):
            return VALIDATION_ERROR
        return super().get_error_type()


def postprocess_for_generators(result: dict, generator, request, public) -> dict:
    """Make the schema read the same way by every mainstream client generator and validator.

    - Every operation takes credentials, reads too (a curator's token widens what a read
      sees, and counts against the curator's rate limit): a token, a session, or none.
    - ``nullable`` stands beside a ``type`` (OpenAPI 3.0.3 ignores it elsewhere): a nullable
      reference is ``oneOf`` the reference and a branch that takes only null (NULL), which
      no non-null value matches; a value of any type is not marked.
    - A string that is blank or formatted is one string schema, its pattern taking the empty
      string (see blank_or).
    - The query parameters that take several values share what the server reads of a query
      string (at most 1,000 parameters in all): whatever the schema allows, the server takes.
    - A takedown documents its 409, as a delete does.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # The credentials writes take, in their order (a token first), or none.
    writes = [
        operation["security"]
        for item in result.get("paths", {}).values()
        for method, operation in item.items()
        if method not in ("get", "head") and operation.get("security")
    ]
    anyone = [*(writes[0] if writes else []), {}]
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("get", "head"):
                operation["security"] = copy.deepcopy(anyone)
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            arrays = [p["schema"] for p in query if p["schema"].get("type") == "array"]
            for array in arrays:
                # Room for every other parameter once, and the rest shared by the lists.
                room = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS - (len(query) - len(arrays))
                array["maxItems"] = min(MAX_VALUES, room // len(arrays))
        if "post" in item and item["post"]["operationId"].endswith("_takedown_create"):
            item["post"]["responses"]["409"] = client_error(
                "Conflict: other records still refer to the record to take down."
            )
    state_nullable_types(result, schemas)
    share_examples(result)
    return result


def share_examples(result: dict) -> None:
    """Response examples as references to ``components/examples`` (each written once; some
    generators read an inline example as a reference that names nothing, and warn)."""
    shared: dict[str, dict] = {}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    for name, example in list(media.get("examples", {}).items()):
                        if "$ref" in example:
                            continue
                        key, number = name, 1
                        while key in shared and shared[key] != example:
                            number += 1
                            key = f"{name}{number}"
                        shared[key] = example
                        media["examples"][name] = {"$ref": f"#/components/examples/{key}"}
    if shared:
        result["components"]["examples"] = dict(sorted(shared.items()))


#: What Django's URLValidator lets through at least: an http(s) or ftp(s) address, with no
#: white space (the server checks the host, the port and the rest).
URL_PATTERN = r"(?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp][Ss]?)://\S+"


def blank_or(schema: dict) -> dict:
    """One string schema for drf-spectacular's ``oneOf: [<a formatted string>, <an empty
    string>]`` (a blank field with a format or a pattern): a generator makes a wrapper type
    of such a ``oneOf``, and a validator that does not check ``format`` finds an empty string
    matches both branches. The empty string is in the pattern instead."""
    if schema.get("format") == "uri" and "pattern" not in schema:
        inner = URL_PATTERN
    elif schema.get("pattern", "").startswith("^") and schema["pattern"].endswith("$"):
        inner = schema["pattern"][1:-1]
    else:
        raise ValueError(f"No pattern for a blank value of {schema}")
    merged = {key: value for key, value in schema.items() if key not in ("format", "minLength")}
    return {**merged, "type": "string", "pattern": f"^(?:{inner})?$"}


#: The null of a nullable reference (OpenAPI 3.0.3 reads ``nullable`` only beside a ``type``,
#: and then not into an ``allOf``): a branch that takes null and nothing else. Its type is an
#: object's whatever it stands beside, which every generator tried reads as "or null"
#: (openapi-generator's Python client makes an import of a string-typed one, with a warning).
NULL = {"type": "object", "nullable": True, "enum": [None]}


def state_nullable_types(node, schemas: dict) -> None:
    if isinstance(node, list):
        for child in node:
            state_nullable_types(child, schemas)
        return
    if not isinstance(node, dict):
        return
    refs = node.get("allOf", [])
    if len(refs) == 1 and "$ref" in refs[0]:
        target = schemas[refs[0]["$ref"].rsplit("/", 1)[1]]
        if "enum" in target:  # the enum says it all (drf-spectacular copies the model's limits)
            for keyword in ("minLength", "maxLength", "pattern"):
                node.pop(keyword, None)
    if node.get("nullable") and not {"type", "oneOf"} & set(node):
        node.pop("nullable")
        if len(refs) == 1 and "$ref" in refs[0]:
            node.pop("allOf")
            node["oneOf"] = [refs[0], copy.deepcopy(NULL)]
        # else: a value of any type, of which null is one already
    branches = node.get("oneOf", [])
    if len(branches) == 2 and branches[1] == {"type": "string", "maxLength": 0}:
        node.pop("oneOf")
        node.update(blank_or(branches[0]))
    for child in node.values():
        state_nullable_types(child, schemas)
