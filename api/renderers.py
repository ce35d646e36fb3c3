"""JSON rendering with orjson: the bytes DRF's JSONRenderer gives (compact, UTF-8, U+2028 and
U+2029 escaped), several times faster. Anything orjson does not take as DRF would (datetimes,
lazy strings, decimals, big integers, non-string keys) goes through DRF's own encoder, and
pretty-printing (``indent=``) through DRF's renderer."""

from __future__ import annotations

import orjson
from rest_framework import renderers

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=self.encoder_class().default, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return super().render(data, accepted_media_type, renderer_context)
        return rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
