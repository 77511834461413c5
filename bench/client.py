"""A small HTTP client for scenario 1: keep-alive connections, a staff session, CSRF tokens."""

import http.client
import re
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Session:
    """One keep-alive connection with its own cookies (Secure cookies included: this is loopback)."""

    def __init__(self, port: int, cookies: dict | None = None, *, keep_new_cookies: bool = True):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = dict(cookies or {})
        self.keep_new_cookies = keep_new_cookies

    def request(self, method: str, path: str, fields: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}
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
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, text

    def form_token(self, path: str) -> str:
        status, page = self.request("GET", path)
        match = TOKEN.search(page)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path} answered {status} without a CSRF token:\n{page[:500]}")
        return match.group(1)

    def login(self, username: str, password: str) -> None:
        token = self.form_token("/accounts/login/")
        fields = {"csrfmiddlewaretoken": token, "username": username, "password": password}
        status, page = self.request("POST", "/accounts/login/", fields)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login failed ({status}):\n{page[:500]}")

    def close(self) -> None:
        self.connection.close()


class PostLoad:
    """POSTs distinct addresses to one form URL from `concurrency` keep-alive clients.

    Bounded in count (`total` requests) and in time (`deadline_s`); a request that does not
    answer 302 is counted as an error and its latency is still recorded.
    """

    def __init__(self, *, port: int, path: str, cookies: dict, token: str, label: str):
        self.port, self.path, self.cookies, self.token, self.label = port, path, cookies, token, label

    def run(self, *, total: int, concurrency: int, deadline_s: float) -> dict:
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        next_index = iter(range(total))
        deadline = time.monotonic() + deadline_s
        start = threading.Barrier(concurrency)

        def client() -> None:
            # Only the session and CSRF cookies: the "messages" cookie each POST sets would
            # otherwise pile up (a browser shows and drops it on the next page) and spill
            # into a session write on every request.
            session = Session(self.port, self.cookies, keep_new_cookies=False)
            start.wait()
            try:
                while time.monotonic() < deadline:
                    with lock:
                        index = next(next_index, None)
                    if index is None:
                        return
                    email = f"{self.label}-{index}@example.com"
                    fields = {"csrfmiddlewaretoken": self.token, "email": email}
                    began = time.perf_counter()
                    try:
                        status, page = session.request("POST", self.path, fields)
                    except OSError as error:
                        status, page = 0, repr(error)
                    elapsed = time.perf_counter() - began
                    with lock:
                        latencies.append(elapsed)
                        if status != 302:
                            errors.append(f"{status}: {page[:200]}")
            finally:
                session.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=deadline_s + 60)
        wall = time.perf_counter() - began
        return {"latencies": latencies, "errors": errors, "wall_s": wall, "timed_out": len(latencies) < total}
