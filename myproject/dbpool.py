"""The PostgreSQL pool's health check, asked of the server only when a connection can have died."""

import threading
import time
import weakref

from psycopg_pool import ConnectionPool


class RecentUseCheck:
    """The pool's `check` and `reset` callbacks (settings: OPTIONS["pool"]).

    Django's CONN_HEALTH_CHECKS makes the pool check every connection it hands out with an
    empty query: one round trip more for every request, 5 % of a staff POST. A connection
    given back in working order less than `fresh_for` seconds ago is handed out again without
    it; one idle for longer (where a restarted server, a proxy's idle timeout or a dropped
    network shows) is checked, and replaced when broken. Only a server that fails within
    those seconds reaches a request as an error, as it would a moment later mid-request.
    """

    def __init__(self, *, fresh_for: float) -> None:
        self.fresh_for = fresh_for
        self._given_back: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def reset(self, connection) -> None:
        """Called by the pool for each connection given back in working order."""
        with self._lock:
            self._given_back[connection] = time.monotonic()

    def check(self, connection) -> None:
        """Called by the pool before it hands `connection` out; raises when it is broken."""
        with self._lock:
            given_back = self._given_back.pop(connection, None)
        if given_back is None or time.monotonic() - given_back > self.fresh_for:
            ConnectionPool.check_connection(connection)
