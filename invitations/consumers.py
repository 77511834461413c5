import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.consumer import SyncConsumer, get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import JsonWebsocketConsumer
from django.db import connections

from invitations import delivery, health, live, liveness, mail, messages

logger = logging.getLogger(__name__)


class InvitationSendConsumer(SyncConsumer):
    """Handles `invitation.send` messages. Never raises for one invitation: a failure is
    recorded on its row (or left for the sweep) and the next message is handled as usual."""

    # Fed by the worker from send-invite; it needs no private channel of its own.
    channel_layer_alias = None

    def __init__(self) -> None:
        super().__init__()
        self.mailer = mail.ReusableMailer()
        self.name = f"{liveness.worker_process()}:{uuid.uuid4().hex[:8]}"
        # A thread of its own, rather than the one thread all SyncConsumers share, so a
        # worker's consumers send concurrently; it keeps this consumer's database and SMTP
        # connections, both closed when the consumer ends.
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="invitation-consumer")

    async def __call__(self, scope, receive, send) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.thread, self._warm_up)
            await super().__call__(scope, receive, send)
        finally:
            await asyncio.get_running_loop().run_in_executor(self.thread, self._release_connections)
            self.thread.shutdown(wait=False)

    def _warm_up(self) -> None:
        """Connect to the database and the mail server, and warm the mail code up, before the first
        message rather than while it waits: a new worker sends its first mails as fast as the rest."""
        try:
            connections["default"].ensure_connection()
        except Exception as exc:
            logger.warning("database not reachable yet (%s: %s)", type(exc).__name__, exc)
        mail.warm_up()
        self.mailer.open()

    def _release_connections(self) -> None:
        self.mailer.close()
        connections.close_all()

    async def dispatch(self, message: dict) -> None:
        await database_sync_to_async(self._handle, thread_sensitive=False, executor=self.thread)(message)

    def _handle(self, message: dict) -> None:
        """SyncConsumer.dispatch's body, on this consumer's thread (a leading underscore: no
        message type can name it)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        handler(message)

    def invitation_send(self, message: dict) -> None:
        invitation_ids = messages.wake_up_ids(message)
        if invitation_ids is None:
            logger.warning("ignoring invitation.send without integer ids: %r", message)
            return
        lent = self.scope.get(delivery.Collaborators.SCOPE_KEY) or delivery.Collaborators()
        try:
            delivery.invitations_deliver(
                invitation_ids=invitation_ids,
                worker=self.name,
                mailer=self.mailer,
                announce=lent.announce,
                stopping=lent.stopping,
                gate=lent.gate,
                ahead=message.get("ahead") is True,
            )
        except health.DATABASE_AWAY as exc:  # one line each, not a traceback per wake-up, while it lasts
            logger.warning(
                "invitations %s: database unavailable (%s); the sweep will re-drive them", invitation_ids, exc
            )
        except Exception:
            logger.exception(
                "invitations %s: delivery crashed; the sweep will re-drive them",
                invitation_ids,
                extra={"invitation_ids": invitation_ids},  # a field of the JSON line; a tag in Sentry
            )


class InvitationStatusConsumer(JsonWebsocketConsumer):
    """Pushes invitation state changes to the staff board. Refuses anyone who may not invite or
    a page of another origin, and closes as soon as its user may no longer see the board
    (logged out, deactivated, the permission gone): checked again before each push."""

    def connect(self) -> None:
        user = self.scope.get("user")
        same_origin = live.board_origin_allowed(
            headers=self.scope.get("headers", []), scheme=self.scope.get("scheme", "ws")
        )
        if user is None or not user.has_perm(live.PERMISSION) or not same_origin:
            self.close()
            return
        session = self.scope.get("session")
        self.user_pk, self.session_key = user.pk, session.session_key if session is not None else None
        self.closing = False
        async_to_sync(self.channel_layer.group_add)(live.STAFF_GROUP, self.channel_name)
        self.accept()

    def disconnect(self, code: int) -> None:
        async_to_sync(self.channel_layer.group_discard)(live.STAFF_GROUP, self.channel_name)

    def receive_json(self, content, **kwargs) -> None:
        """The board only listens; whatever a client sends is ignored."""

    def invitation_status(self, event: dict) -> None:
        if self.closing:
            return
        if not live.board_viewer_allowed(user_pk=self.user_pk, session_key=self.session_key):
            self.closing = True
            self.close()
            return
        self.send_json(event["invitations"])
