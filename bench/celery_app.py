"""Celery baseline: one task doing the worker's job (load the row, build the mail, send, stamp).

Run by the bench as `celery -A bench.celery_app worker --pool solo --concurrency 1`.
Broker: a Redis DB index and key prefix of the bench's own (BENCH_CELERY_BROKER_URL,
BENCH_CELERY_PREFIX); no result backend.
"""

import os
import smtplib
import sys

from celery import Celery, signals

from bench.baseline import new_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "bench-send-invite")
app = Celery("bench")
app.conf.update(
    broker_url=os.environ.get("BENCH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/11"),
    broker_transport_options={"global_keyprefix": os.environ.get("BENCH_CELERY_PREFIX", "bench:")},
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)
# Celery's Django fix-up closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set, whatever CONN_MAX_AGE says: a new PostgreSQL connection per task.
# Like the product's worker, keep it (BENCH_CELERY_DB_REUSE=0 for Celery's default).
if os.environ.get("BENCH_CELERY_DB_REUSE", "1") == "1":
    app.conf["CELERY_DB_REUSE_MAX"] = 10**9
# Keep one SMTP connection per worker process across tasks, as the product's worker does;
# BENCH_CELERY_SMTP_REUSE=0 opens one per message (what `message.send()` does).
REUSE_SMTP = os.environ.get("BENCH_CELERY_SMTP_REUSE", "1") == "1"


class Connection:
    backend = None


@app.task(name="bench.send_invitation")
def send_invitation(invitation_id: int) -> None:
    from django.utils import timezone

    from invitations.mail import build_message
    from invitations.models import Invitation

    invitation = Invitation.objects.select_related("sender").get(pk=invitation_id)
    key, digest = new_key()
    message = build_message(invitation, key=key)
    if REUSE_SMTP:
        _send_reusing(message)
    else:
        message.send()
    Invitation.objects.filter(pk=invitation_id).update(
        status=Invitation.Status.SENT, sent=timezone.now(), key_digest=digest, attempts=1
    )


def _send_reusing(message) -> None:
    from django.core.mail import mailers

    for attempt in (1, 2):
        if Connection.backend is None:
            Connection.backend = mailers.default
            Connection.backend.open()
        try:
            Connection.backend.send_messages([message])
            return
        except smtplib.SMTPServerDisconnected:
            Connection.backend = None
            if attempt == 2:
                raise


@signals.worker_ready.connect
def announce_ready(**kwargs) -> None:
    print("celery worker ready", file=sys.stderr, flush=True)
