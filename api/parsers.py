"""The API's JSON parser: DRF's, with numbers read exactly as written (never as floats),
and nesting too deep to parse taken as malformed JSON."""

import codecs
import json
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant


class JsonNumber(Decimal):
    """A JSON number with a fraction or an exponent (``12.50``, ``1e3``): the exact decimal,
    with ``text`` as it was written, so an amount can refuse the exponent form that a float
    would have hidden (``1e3`` parsed to 1000.0) and keep every digit a float would round.
    Immutable, so a copy is the number itself."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (type(self), (self.text,))


class JsonParser(JSONParser):
    """DRF's JSON parser, reading numbers with a fraction or an exponent as ``JsonNumber``
    (a whole number stays an int; NaN and Infinity are malformed, as in DRF's strict mode),
    otherwise exactly DRF's.
    Python's decoder recurses once per level of nesting, so a body of a few hundred kB of
    ``[[[[…`` (well under the size limit) raises RecursionError, which DRF does not catch:
    it was a 500. It is a 400 ``parse_error`` like any malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        # DRF's: the request's charset, refused unless a text encoding (a bz2_codec body
        # would decompress without bound).
        encoding = get_encoding(parser_context or {})
        try:
            return json.load(
                codecs.getreader(encoding)(stream),
                parse_float=JsonNumber,
                parse_constant=strict_constant,
            )
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
