"""OpenAPI schema generation: one stable JSON error shape, documented on every operation."""

from __future__ import annotations

import copy

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


#: The description of the ``{slug}`` path parameter of every detail operation.
slug_parameter = OpenApiParameter(
    "slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The record's stable slug, as given in its `slug` field.",
    pattern=SLUG_PATTERN,
)

retrieve_schema = extend_schema(parameters=[slug_parameter])

#: Why a curator makes a change: required on every write, kept in the record's history.
reason_parameter = OpenApiParameter(
    "reason",
    OpenApiTypes.STR,
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


def postprocess_rate_limits(result: dict, generator, request, public) -> dict:
    """Document the rate-limit headers on the success responses and the 429 of a throttled
    operation (where clients read their budget), and Retry-After on its 429 and 503, as
    references to shared header components."""
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
                if code.startswith("2") or code == "429":
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
    - Reads say nothing of security: they need no credentials (``security: [{}]`` makes some
      generators demand an authenticated client). Writes keep theirs.
    - The parameters users reach for first get examples.
    """
    schemas = result.get("components", {}).get("schemas", {})
    by_values = enum_components(schemas)
    for path, item in result.get("paths", {}).items():
        resource = path.removeprefix("/api/v1/").split("/")[0]
        for operation in item.values():
            if operation.get("security") == [{}] or operation is item.get("get"):
                # Reads need no credentials (a curator's token only widens what they see).
                operation.pop("security", None)
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
