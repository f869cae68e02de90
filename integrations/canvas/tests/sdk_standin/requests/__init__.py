"""Stand-in of the parts of `requests` (2.x) that the plugin and the Http stand-in use:
requests/exceptions.py (RequestException, ConnectionError, Timeout, ConnectTimeout,
ReadTimeout) and requests/models.py (Response). The Canvas sandbox lets plugins import
requests.RequestException (plugin_runner/sandbox.py, STANDARD_LIBRARY_MODULES)."""

import json as _json


class RequestException(IOError):
    """There was an ambiguous exception that occurred while handling your request."""


class ConnectionError(RequestException):  # noqa: A001 (requests' own name)
    """A Connection error occurred."""


class Timeout(RequestException):
    """The request timed out."""


class ConnectTimeout(ConnectionError, Timeout):
    """The request timed out while trying to connect to the remote server."""


class ReadTimeout(Timeout):
    """The server did not send any data in the allotted amount of time."""


class Response:
    """Mirrors requests.models.Response: status_code, ok, headers, text, content, json()."""

    def __init__(self, status_code, headers, content):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def ok(self):
        return self.status_code < 400

    @property
    def text(self):
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        """Raises ValueError (requests.JSONDecodeError is one) when the body is not JSON."""
        return _json.loads(self.content)
