"""What the admin's invitation list needs to stay cheap at a million rows: its filters and its
paginator. Each asks an index, never the whole table."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from invitations import queries
from invitations.models import Invitation

Status = Invitation.Status


class StatusFilter(admin.SimpleListFilter):
    """The stored statuses, plus "expired": sent, but not accepted in time."""

    title = _("status")
    parameter_name = "status"
    EXPIRED = "expired"

    def lookups(self, request, model_admin):
        choices = list(Status.choices)
        choices.insert(
            choices.index((Status.ACCEPTED, Status.ACCEPTED.label)) + 1, (self.EXPIRED, _("expired"))
        )
        return choices

    def queryset(self, request, queryset):
        if self.value() == self.EXPIRED:
            return queryset.expired()
        if self.value() == Status.SENT:
            return queryset.unexpired_sent()  # a range on the sent time, not NOT IN over the table
        if self.value():
            return queryset.filter(status=self.value())
        return queryset


class SenderFilter(admin.SimpleListFilter):
    """The users who sent invitations, not every user (invitees become users too)."""

    title = _("sender")
    parameter_name = "sender"

    def lookups(self, request, model_admin):
        user_model = get_user_model()
        users = user_model._default_manager.filter(pk__in=Invitation.objects.sender_ids()).order_by(
            user_model.USERNAME_FIELD
        )
        return [(str(user.pk), str(user)) for user in users]

    def queryset(self, request, queryset):
        return queryset.filter(sender_id=self.value()) if self.value() else queryset


class EstimatedCountPaginator(Paginator):
    """The changelist's pages without counting every row: an unfiltered list of a large table on
    PostgreSQL takes the planner's row estimate (pg_class.reltuples, kept by autovacuum); a
    filtered one counts at most EXACT_UP_TO rows, then takes the planner's estimate of the
    query. Small tables and other databases are counted exactly."""

    EXACT_UP_TO = queries.EXACT_COUNT

    @cached_property
    def count(self) -> int:
        queryset = self.object_list.order_by()  # the order does not change a count
        if connections[queryset.db].vendor != "postgresql":
            return queryset.count()
        if not queryset.query.where:
            estimate = _estimated_rows(queryset.model._meta.db_table, using=queryset.db)
            if estimate > self.EXACT_UP_TO:
                return estimate
        return queryset.count_up_to(self.EXACT_UP_TO)


def _estimated_rows(table: str, *, using: str) -> int:
    """PostgreSQL's estimate of the rows in `table`; -1 before its first ANALYZE."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return int(row[0]) if row else -1
