"""What the API accepts as a request body before any schema sees it.

A JSON body must be an object (``[null, null]`` or ``null`` is not a PATCH, and a list would read
as an empty change); no text anywhere in it, nor in the query, may carry a NUL character (a
PostgreSQL text column cannot store one). A body that is not an object is the API's JSON 400, text
with a NUL a 422 (the schema cannot say it: a rule like any other); dates in request
schemas are ISO text only (``ISODate``: a number is not a date).
"""

from __future__ import annotations

import datetime
import json
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja.errors import HttpError
from ninja.parser import Parser
from pydantic import BeforeValidator


def has_nul(value: Any) -> bool:
    """True when any text in ``value`` (nested lists and objects, keys too) holds a NUL."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


NUL_MESSAGE = gettext_lazy("text may not contain NUL characters")


class StrictParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise HttpError(400, _("the body must be a JSON object"))
        if has_nul(data):
            raise HttpError(422, str(NUL_MESSAGE))
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        for key, values in data.lists():
            if has_nul(key) or has_nul(values):
                raise HttpError(422, str(NUL_MESSAGE))
        return super().parse_querydict(data, list_fields, request)


def _iso_text_only(value: Any) -> Any:
    if isinstance(value, datetime.date) or value is None:
        return value
    if not isinstance(value, str):
        raise ValueError("a date is ISO text (YYYY-MM-DD)")
    return value


ISODate = Annotated[datetime.date, BeforeValidator(_iso_text_only)]
