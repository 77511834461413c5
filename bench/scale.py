"""Scenario 10 of issue 28: what staff, admins, ops and invitees touch, as the table grows.

The table is grown in place to each size (s10_n1 < s10_n2 < s10_n3 rows) with one
`INSERT … SELECT FROM generate_series` (never ORM saves), a mix of statuses, senders and dates,
then VACUUM ANALYZE and a CHECKPOINT. At each size the product's web process (the Procfile's line,
`myproject.settings`) answers s10_samples GETs of each page on one keep-alive connection, and
`import_invitations` imports a CSV of as many new addresses as the table holds.

Returns {"n<size>": {measure: value, ...}} for each size.
"""

import csv
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bench.backlog import rss_mb
from bench.client import Session
from bench.harness import PRODUCT_SETTINGS, PYTHON, Harness, delete_redis_keys

ADMIN_USER, ADMIN_PASSWORD = "bench-admin", "bench-admin-password"  # noqa: S105 - a throwaway database
METRICS_TOKEN = "bench-metrics-token"  # noqa: S105
SENDERS = 20  # staff who invited; one row in SENDERS + 1 has no sender (the import command's)
WARM_UP = 3  # GETs of each page not counted (the first also fills the process's caches)
# An admin looking up one person: the start of their address, up to the @. (Not "person4242":
# that is the prefix of 111 addresses at 1M rows and of one at 10k, so the pages would differ
# in the rows they render, not in what the search costs.)
SEARCH = "person4242@"
# The status of row g is chosen by g % 100: 5% pending, 1% sending, 60% sent (most of them
# expired: `created` is spread over a year), 15% accepted, 4% failed, 5% revoked, 5% bounced,
# 2% complained, 3% opted out; a third of the sent ones reminded; one in ten in German.
LOAD = """
INSERT INTO invitations_invitation (
    email, sender_id, created, status, key_nonce, sent, message_id, delivered, accepted, ended,
    attempts, last_error, next_attempt_at, published_at, claimed_at, claimed_by, language, reminded)
SELECT 'person' || g || '@example.com', (%(senders)s::int[])[1 + g %% (cardinality(%(senders)s::int[]) + 1)],
    c, s, md5(g::text),
    CASE WHEN s IN ('sent', 'accepted', 'bounced', 'complained', 'opted_out') THEN c + interval '40 s' END,
    CASE WHEN s IN ('sent', 'accepted', 'bounced', 'complained', 'opted_out')
         THEN '<' || g || '@bench.example>' ELSE '' END,
    CASE WHEN s IN ('sent', 'accepted') THEN c + interval '45 s' END,
    CASE WHEN s = 'accepted' THEN c + interval '1 day' END,
    CASE WHEN s = 'accepted' THEN c + interval '1 day'
         WHEN s IN ('failed', 'revoked', 'bounced', 'complained', 'opted_out')
         THEN c + interval '2 hours' END,
    CASE WHEN s = 'failed' THEN 5 WHEN s = 'pending' THEN 0 ELSE 1 END,
    CASE WHEN s = 'failed' THEN 'SMTP 550: mailbox unavailable' ELSE '' END,
    c, CASE WHEN s = 'pending' THEN c END,
    CASE WHEN s = 'sending' THEN c END, CASE WHEN s = 'sending' THEN 'bench:1' ELSE '' END,
    CASE WHEN g %% 10 = 0 THEN 'de' ELSE '' END,
    CASE WHEN s = 'sent' AND g %% 3 = 0 THEN c + interval '3 days' END
FROM (
    SELECT g, now() - random() * interval '365 days' AS c,
        CASE WHEN g %% 100 < 5 THEN 'pending' WHEN g %% 100 < 6 THEN 'sending' WHEN g %% 100 < 66 THEN 'sent'
             WHEN g %% 100 < 81 THEN 'accepted' WHEN g %% 100 < 85 THEN 'failed'
             WHEN g %% 100 < 90 THEN 'revoked' WHEN g %% 100 < 95 THEN 'bounced'
             WHEN g %% 100 < 97 THEN 'complained' ELSE 'opted_out' END AS s
    FROM generate_series(%(first)s, %(last)s) AS g
) AS generated
"""


def scale(h: Harness, sizes: dict, repeat: int) -> dict:
    if repeat > sizes["s10_repeats"]:  # its figures are medians of many samples already
        return {}
    h.reset()
    senders = _create_users()
    web, port = h.start_web(PRODUCT_SETTINGS, f"s10-r{repeat}-web", METRICS_TOKEN=METRICS_TOKEN)
    results, loaded = {}, 0
    try:
        for size in sorted({sizes["s10_n1"], sizes["s10_n2"], sizes["s10_n3"]}):
            began = time.monotonic()
            loaded = _grow(loaded, size, senders)
            figures = {"load_s": time.monotonic() - began}
            figures |= _pages(port, samples=sizes["s10_samples"])
            figures |= _import(h, size, name=f"s10-r{repeat}-import-{size}", keep=size == sizes["s10_n3"])
            results[f"n{size}"] = figures
            print(f"bench: scenario 10 at {size:,} rows: {figures}")
    finally:
        h.stop(web)
    return results


def _create_users() -> list[int]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    User.objects.filter(username__startswith="bench-sender-").delete()
    User.objects.filter(username=ADMIN_USER).delete()
    User.objects.create_superuser(ADMIN_USER, "admin@example.com", ADMIN_PASSWORD)
    staff = [
        User(username=f"bench-sender-{n}", is_staff=True, password=make_password(None))
        for n in range(SENDERS)
    ]
    return [user.pk for user in User.objects.bulk_create(staff)]


def _grow(loaded: int, size: int, senders: list[int]) -> int:
    """Rows loaded+1 … size, then VACUUM ANALYZE (what autovacuum leaves a settled table with)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(LOAD, {"senders": senders, "first": loaded + 1, "last": size})
    _vacuum()
    return size


def pages() -> dict[str, str]:
    """Each page of the table in issue 28, by measure name."""
    from invitations.changelist import StatusFilter
    from invitations.models import Invitation

    admin = "/admin/invitations/invitation/"
    statuses = [*Invitation.Status.values, StatusFilter.EXPIRED]
    return {
        "board_ms": "/invites/",
        "admin_ms": admin,
        **{f"admin_{status}_ms": f"{admin}?status={status}" for status in statuses},
        "admin_search_ms": f"{admin}?q={quote(SEARCH)}",
    }


def _pages(port: int, *, samples: int) -> dict:
    from invitations.keys import invitation_key
    from invitations.models import Invitation

    admin, invitee = Session(port), Session(port)
    invitee.keep_new_cookies = False  # each GET of the link as a new browser: a new session
    key = invitation_key(Invitation.objects.unexpired_sent().order_by("-sent").first())
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    checks = {
        **{name: (admin, path, (200,), None) for name, path in pages().items()},
        "healthz_ms": (admin, "/healthz", (200, 503), None),  # 503: no worker runs in this scenario
        "metrics_ms": (admin, "/metrics", (200,), bearer),
        "accept_ms": (invitee, f"/invites/accept/{key}/", (302,), None),
    }
    try:
        admin.login(ADMIN_USER, ADMIN_PASSWORD)
        figures = {}
        for name, (session, path, expect, headers) in checks.items():
            times = [session.get_ms(path, expect=expect, headers=headers) for _ in range(WARM_UP + samples)]
            figures[name] = statistics.median(times[WARM_UP:])
    finally:
        admin.close()
        invitee.close()
    return figures


def _import(h: Harness, size: int, *, name: str, keep: bool) -> dict:
    """`import_invitations` of `size` new addresses: its peak memory with its children, sampled
    every 0.1 s, and rows per second over the whole command (start-up included). Unless `keep`,
    the imported rows are deleted again, so that the next size starts from the same mix."""
    from invitations.models import Invitation

    first_new = (Invitation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "addresses.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email"])
            writer.writerows([f"{name}-{index}@example.org"] for index in range(size))
        command = [PYTHON, "manage.py", "import_invitations", str(path)]
        began, peak = time.monotonic(), 0.0
        process = h.start(name, command, h.env_for(PRODUCT_SETTINGS))
        while process.popen.poll() is None:
            peak = max(peak, rss_mb([process]))
            time.sleep(0.1)
        elapsed = time.monotonic() - began
        h.stop(process)
    if process.popen.returncode != 0 or f"{size:7d} queued" not in process.output():
        raise RuntimeError(f"{name} failed ({process.popen.returncode}):\n{process.output()[-2000:]}")
    delete_redis_keys()  # the wake-ups it published: no worker reads them here
    if not keep:
        _delete_from(first_new)
    return {"import_peak_mib": peak, "import_rate": size / elapsed, "import_s": elapsed}


def _delete_from(first: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # imported rows have no groups and no suppressions
        cursor.execute("DELETE FROM invitations_invitation WHERE id >= %s", [first])
    _vacuum()


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # outside a transaction: Django autocommits
        cursor.execute("VACUUM ANALYZE invitations_invitation")
        # The load and the vacuum leave hundreds of MB unwritten at 1M rows: written now, not by
        # a checkpoint in the middle of the GETs that follow.
        cursor.execute("CHECKPOINT")
