"""The PostgreSQL pool's health check, asked of the server only when a connection can have died."""

import threading
import time
import weakref

from psycopg_pool import ConnectionPool


class RecentUseCheck:
    """The pool's `check` callback (settings: OPTIONS["pool"]["check"]).

    Django's CONN_HEALTH_CHECKS makes the pool check every connection it hands out with an
    empty query: one round trip more for every request. A connection last handed out less
    than `fresh_for` seconds ago, to a request that has given it back since, is handed out
    again without it; one idle for longer (where a restarted server, a proxy's idle timeout
    or a dropped network shows) is checked, and replaced when broken. Only a server that
    fails within those seconds reaches a request as an error, as it would a moment later
    mid-request.

    The time is taken when a connection is handed out, not given back: a `reset` callback
    would make the pool give every connection back through its worker thread.
    """

    def __init__(self, *, fresh_for: float) -> None:
        self.fresh_for = fresh_for
        self._handed_out: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, connection) -> None:
        """Called by the pool before it hands `connection` out; raises when it is broken."""
        now = time.monotonic()
        with self._lock:
            last = self._handed_out.get(connection)
            self._handed_out[connection] = now
        if last is None or now - last > self.fresh_for:
            ConnectionPool.check_connection(connection)
