"""The web process's limit on each SQL statement."""


def limit_statements(database: dict, milliseconds: int) -> None:
    """Have PostgreSQL cancel any statement on `database`'s connections that runs longer than
    `milliseconds` (0: no limit), so that a slow page leaves no runaway query behind: the
    request gets the 503 page (psycopg's QueryCanceled, an OperationalError to Django). Set as
    a connection parameter: no round trip per request. Other databases have no such limit."""
    if milliseconds > 0 and database["ENGINE"] == "django.db.backends.postgresql":
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c statement_timeout={milliseconds}".strip()
