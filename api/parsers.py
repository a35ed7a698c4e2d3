"""The API's JSON parser: DRF's, with nesting too deep to parse taken as malformed JSON."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JsonParser(JSONParser):
    """DRF's JSON parser. Python's decoder recurses once per level of nesting, so a body of
    a few hundred kB of ``[[[[…`` (well under the size limit) raises RecursionError, which
    DRF does not catch: it was a 500. It is a 400 ``parse_error`` like any malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
