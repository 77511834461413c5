"""Real processes for integration tests: the Procfile's web process, `runworker send-invite` and a
private Redis."""

import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

from loopback.processes import ROOT as ROOT  # tests import it from here
from loopback.processes import Process, answers, free_port, wait_for, web_command


class RedisServer:
    """A Redis of the test's own that it may stop and restart on the same port, empty each time."""

    def __init__(self, log_dir: Path, *extra_args: str, name: str = "redis"):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.extra_args = extra_args
        self.name = name
        self.process: Process | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.log_dir)]
        args += ["--save", "", "--appendonly", "no", *self.extra_args]  # a restart forgets every message
        self.process = Process(f"{self.name}-{self.starts}", args, dict(os.environ), self.log_dir)
        wait_for(lambda: _redis_answers(self.port), timeout=10, message=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        wait_for(lambda: not _redis_answers(self.port), timeout=10, message="redis-server to stop")


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def manage(env: dict, *args: str) -> str:
    """Run a management command to its end, as a release phase or an operator would; fail on error."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Stack:
    """Starts and stops web and worker processes sharing one environment."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.processes: list[Process] = []
        self.web_port = free_port()
        self.env["SITE_URL"] = self.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_worker(self, name: str = "worker") -> Process:
        [process] = self.start_workers(name)
        return process

    def start_workers(self, *names: str) -> list[Process]:
        """Start the workers side by side, then wait until each is ready."""
        command = [sys.executable, "manage.py", "runworker", "send-invite"]
        started = [Process(name, command, self.env, self.log_dir) for name in names]
        self.processes.extend(started)
        for process in started:
            process.wait_logged("worker ready", timeout=30)
        return started

    def start_web(self) -> Process:
        process = Process("web", web_command(self.web_port), self.env, self.log_dir)
        self.processes.append(process)
        process.wait_until(lambda: answers(self.base_url + "/healthz"), timeout=30, what="to answer")
        return process

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()[-4000:]}" for p in self.processes)


class LoopbackIsSecure(DefaultCookiePolicy):
    """Send Secure cookies (production settings) to http://127.0.0.1 too, as browsers do for
    loopback, a "potentially trustworthy" origin."""

    def return_ok_secure(self, cookie, request) -> bool:
        loopback = urllib.parse.urlsplit(request.full_url).hostname == "127.0.0.1"
        return loopback or super().return_ok_secure(cookie, request)


class StayOnRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # urllib then raises HTTPError for the 3xx, which _open() returns


class Browser:
    """A cookie-keeping HTTP client that submits forms with their CSRF token, like a user."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        cookies = urllib.request.HTTPCookieProcessor(CookieJar(policy=LoopbackIsSecure()))
        self.opener = urllib.request.build_opener(cookies)
        self.staying = urllib.request.build_opener(cookies, StayOnRedirect())

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self._url(path)))

    def submit(self, path: str, data: dict, *, form_page: str | None = None) -> tuple[int, str]:
        """GET the page holding the form, take its CSRF token, POST the fields."""
        return self.post(path, data, token=self.csrf_token(form_page or path))

    def csrf_token(self, form_page: str) -> str:
        _, page = self.get(form_page)
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def post(self, path: str, data: dict, *, token: str, follow: bool = True) -> tuple[int, str]:
        """POST the fields; with follow=False a redirect is the answer: its status and Location."""
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **data}).encode()
        request = urllib.request.Request(self._url(path), data=body, headers={"Referer": self._url(path)})
        return self._open(request, self.opener if follow else self.staying)

    def login(self, username: str, password: str) -> None:
        status, page = self.submit("/accounts/login/", {"username": username, "password": password})
        assert status == 200, page
        assert "Invite someone" in page, page

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def _open(self, request: urllib.request.Request, opener=None) -> tuple[int, str]:
        try:
            with (opener or self.opener).open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:  # not followed
                return error.code, error.headers["Location"]
            return error.code, error.read().decode()
