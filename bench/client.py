"""A small HTTP client for scenarios 1 and 10: one keep-alive connection, a staff session, CSRF tokens."""

import http.client
import re
import time
import urllib.parse
from http.cookies import SimpleCookie

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Session:
    """One keep-alive connection with its own cookies (Secure cookies included: this is loopback)."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.keep_new_cookies = True

    def request(
        self, method: str, path: str, fields: dict | None = None, headers: dict | None = None
    ) -> tuple[int, str]:
        headers = {
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items()),
            **(headers or {}),
        }
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            return self._send(method, path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # the server closed an idle keep-alive connection: once more
            return self._send(method, path, body, headers)

    def _send(self, method: str, path: str, body: str | None, headers: dict) -> tuple[int, str]:
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        for header in (response.headers.get_all("Set-Cookie") or []) if self.keep_new_cookies else []:
            self.cookies.update((name, morsel.value) for name, morsel in SimpleCookie(header).items())
        return response.status, text

    def form_token(self, path: str) -> str:
        status, page = self.request("GET", path)
        match = TOKEN.search(page)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path} answered {status} without a CSRF token:\n{page[:500]}")
        return match.group(1)

    def login(self, username: str, password: str) -> None:
        fields = {"csrfmiddlewaretoken": self.form_token("/accounts/login/"), "username": username}
        status, page = self.request("POST", "/accounts/login/", {**fields, "password": password})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login failed ({status}):\n{page[:500]}")
        # From now on only the session and CSRF cookies: the "messages" cookie each POST sets
        # would pile up (a browser shows and drops it on the next page) and be written back.
        self.keep_new_cookies = False

    def post_many(self, path: str, *, label: str, count: int) -> tuple[list[float], int]:
        """POST `count` distinct addresses one after the other; their latencies in ms, and the
        number that did not answer 302 (their latencies are kept too)."""
        token = self.form_token("/invites/new/")
        latencies, failed = [], 0
        for index in range(count):
            fields = {"csrfmiddlewaretoken": token, "email": f"{label}-{index}@example.com"}
            began = time.perf_counter()
            status, _ = self.request("POST", path, fields)
            latencies.append((time.perf_counter() - began) * 1000)
            failed += status != 302
        return latencies, failed

    def get_ms(self, path: str, *, expect: tuple = (200,), headers: dict | None = None) -> float:
        """GET `path`; its latency in ms, up to the whole body. RuntimeError for another status."""
        began = time.perf_counter()
        status, page = self.request("GET", path, headers=headers)
        elapsed = (time.perf_counter() - began) * 1000
        if status not in expect:
            raise RuntimeError(f"GET {path} answered {status}, not {expect}:\n{page[:500]}")
        return elapsed

    def close(self) -> None:
        self.connection.close()
