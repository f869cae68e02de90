"""Stand-in of canvas_sdk/utils/__init__.py and canvas_sdk/utils/http.py (Http) of the Canvas
SDK 0.203.0. Http.post has the SDK's signature and, like the SDK's, applies the per-instance
_MAX_REQUEST_TIMEOUT_SECONDS (30 unless overridden) to connecting and to reading, and logs the
SDK's deprecation warning when a plugin overrides it; it makes a real request with urllib
instead of a requests.Session."""

import json as _json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request

import requests

logger = logging.getLogger("plugin_runner_logger")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Http:
    """A helper class for completing HTTP calls with metrics tracking."""

    _MAX_REQUEST_TIMEOUT_SECONDS = 30

    def __init__(self, base_url=""):
        self._base_url = base_url

    def __setattr__(self, name, value):
        if name == "_MAX_REQUEST_TIMEOUT_SECONDS":
            logger.warning(
                "Overriding %s._MAX_REQUEST_TIMEOUT_SECONDS is deprecated and will be "
                "forbidden in a future release. Use the timeout parameter on individual "
                "requests instead.",
                type(self).__name__,
            )
        super().__setattr__(name, value)

    def join_url(self, url):
        """Join a URL to the base_url."""
        joined = urllib.parse.urljoin(self._base_url, url)
        if not joined.startswith(self._base_url):
            raise ValueError("You may not access other URLs using this client.")
        return joined

    def post(self, url, json=None, data=None, headers=None):
        """Sends a POST request."""
        headers = dict(headers or {})
        if json is not None:
            body = _json.dumps(json).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(data, str):
            body = data.encode("utf-8")
        else:
            body = data
        req = urllib.request.Request(self.join_url(url), data=body, headers=headers, method="POST")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=self._MAX_REQUEST_TIMEOUT_SECONDS) as resp:
                return requests.Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return requests.Response(err.code, dict(err.headers or {}), err.read())
        except (socket.timeout, TimeoutError) as err:
            raise requests.ReadTimeout(str(err)) from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, (socket.timeout, TimeoutError)):
                raise requests.ConnectTimeout(str(err.reason)) from err
            raise requests.ConnectionError(str(err.reason)) from err
        except OSError as err:  # a reset connection while reading
            raise requests.ConnectionError(str(err)) from err


__all__ = ("Http",)
