"""OpenAPI schema generation: one stable JSON error shape, documented on every operation."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ValidationErrorEnum
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
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
    """A 404, 405 or 406: the request cannot be answered as asked."""

    type = serializers.ChoiceField(
        choices=ClientErrorEnum.choices, help_text="Always client_error."
    )
    errors = ErrorSerializer(many=True, help_text="The problem, as one entry.")


class AutoSchema(StandardizedErrorsAutoSchema):
    """Documents a 400 on every read operation: unknown and repeated query parameters are
    refused on details too, not only invalid filter values on lists."""

    def _should_add_validation_error_response(self) -> bool:
        return True


#: The description of the ``{slug}`` path parameter of every detail operation.
slug_parameter = OpenApiParameter(
    "slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The record's stable slug, as given in its `slug` field.",
)

retrieve_schema = extend_schema(parameters=[slug_parameter])
