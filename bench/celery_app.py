"""Celery baseline: one task doing the worker's job (load the row, build the mail, send, stamp).

Run by the bench as `celery -A bench.celery_app worker --pool solo --concurrency 1`.
Broker: a Redis DB index and key prefix of the bench's own; no result backend. It sends through
MAILERS as bench.settings (that is, myproject.settings) reads them from EMAIL_URL and ANYMAIL_API_URL.
"""

import functools
import os
import sys

from celery import Celery, signals

from bench.baseline import new_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

app = Celery("bench")
app.conf.update(
    broker_url=os.environ.get("BENCH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/11"),
    broker_transport_options={"global_keyprefix": os.environ.get("BENCH_CELERY_PREFIX", "bench:")},
    broker_connection_retry_on_startup=True,
    task_default_queue=os.environ.get("BENCH_CELERY_QUEUE", "bench-send-invite"),
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)
# Celery's Django fix-up closes the database connection around every task unless this is set,
# whatever CONN_MAX_AGE says. Like the product's worker, keep it.
app.conf["CELERY_DB_REUSE_MAX"] = 10**9


@functools.cache
def mailer():
    """One SMTP connection per worker process, kept across tasks, as the product's worker does."""
    from invitations.mail import ReusableMailer

    return ReusableMailer()


# Celery's own rate limit (scenario 7), "20/s": per worker process, not for the whole fleet.
@app.task(name="bench.send_invitation", rate_limit=os.environ.get("BENCH_CELERY_RATE_LIMIT") or None)
def send_invitation(invitation_id: int) -> None:
    from django.utils import timezone

    from invitations.mail import build_message
    from invitations.models import Invitation

    invitation = Invitation.objects.select_related("sender").get(pk=invitation_id)
    key, digest = new_key()
    mailer().send(build_message(invitation, key=key))
    Invitation.objects.filter(pk=invitation_id).update(
        status=Invitation.Status.SENT, sent=timezone.now(), key_digest=digest, attempts=1
    )


@signals.worker_ready.connect
def announce_ready(**kwargs) -> None:
    print("celery worker ready", file=sys.stderr, flush=True)
