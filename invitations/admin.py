from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invitations import queries, services
from invitations.conf import app_settings
from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression

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


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    # A million rows: no count of the whole table (twice) and no date list over every row.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_display = [
        "email",
        "sender",
        "status",
        "sent",
        "delivered",
        "reminded",
        "attempts",
        "last_error",
        "accepted",
        "created",
    ]
    list_filter = [
        StatusFilter,
        "sender",
        "created",
        "sent",
        ("reminded", admin.EmptyFieldListFilter),
        "groups",
    ]
    # A prefix of the address (as stored: the domain is lowercase) and a provider's message id,
    # both answered from an index; a substring search would read every row.
    search_fields = ["email__startswith", "message_id__exact"]
    search_help_text = _("The start of an address (any case), or a provider's message id.")
    readonly_fields = [
        "sender", "status", "created", "sent", "delivered", "reminded", "message_id", "accepted", "attempts",
        "last_error", "ended", "next_attempt_at", "published_at", "claimed_at", "claimed_by",
    ]  # fmt: skip
    actions = ["resend", "retry_now", "revoke"]

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and app_settings.OVERRIDE_RECIPIENTS:  # once, not again after an action
            override = ", ".join(app_settings.OVERRIDE_RECIPIENTS)
            text = gettext("Staging: every invitation mail goes to %(override)s, not to the address invited.")
            self.message_user(
                request, text % {"override": override},
                messages.WARNING,
            )  # fmt: skip
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        """search_fields' lookups, plus the lowercase term: addresses are mostly stored in lower
        case, and a case-insensitive LIKE (UPPER(email)) could use no index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        address = Q(email__startswith=term) | Q(email__startswith=term.lower())
        return queryset.filter(address | Q(message_id=term)), False

    def get_readonly_fields(self, request, obj=None):
        # The address of an existing invitation is history; invite again instead. Its groups
        # may change until it is accepted or ends.
        if obj is None:
            return self.readonly_fields
        return [
            *self.readonly_fields,
            "email",
            "language",
            *([] if obj.status in Status.open() else ["groups"]),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class SenderInvitationForm(form):  # knows its sender while it validates: the same screen
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, sender=request.user, **form_kwargs)

        return SenderInvitationForm

    def save_form(self, request, form, change):
        if change:
            # Every field of an existing invitation is read-only, and InvitationForm.save()
            # refuses commit=False: there is nothing to save.
            return form.instance
        return form.save()  # creates the row and queues it on commit

    def save_model(self, request, obj, form, change):
        # Added: InvitationForm.save() created it. Changed: nothing is editable, and a full-row
        # save could overwrite what a worker stamped on the row meanwhile.
        pass

    def save_related(self, request, form, formsets, change):
        # Added: InvitationForm.save() stored the groups with the row. Changed: only the groups.
        if change and "groups" in form.cleaned_data:
            services.invitation_groups_set(invitation=form.instance, groups=form.cleaned_data["groups"])

    @admin.action(description=_("Resend with a fresh key (sent or expired)"), permissions=["change"])
    def resend(self, request, queryset):
        changed = services.invitations_requeue(ids=_ids(queryset), statuses=[Status.SENT])
        self._report(request, queryset, changed, gettext("queued again"), suppressed=_suppressed(queryset))

    @admin.action(description=_("Retry now (failed)"), permissions=["change"])
    def retry_now(self, request, queryset):
        changed = services.invitations_requeue(ids=_ids(queryset), statuses=[Status.FAILED])
        self._report(
            request, queryset, changed, gettext("queued for a retry"), suppressed=_suppressed(queryset)
        )

    @admin.action(description=_("Revoke"), permissions=["change"])
    def revoke(self, request, queryset):
        self._report(request, queryset, services.invitations_revoke(ids=_ids(queryset)), gettext("revoked"))

    def _report(self, request, queryset, changed: int, verb: str, *, suppressed: int = 0) -> None:
        skipped = queryset.count() - changed - suppressed
        text = gettext("%(count)d invitation(s) %(verb)s.") % {"count": changed, "verb": verb}
        if suppressed:
            note = gettext("%(count)d skipped: address suppressed (bounced, complained or opted out).")
            text += " " + note % {"count": suppressed}
        if skipped:
            text += " " + gettext("%(count)d skipped: the action does not apply to them.") % {
                "count": skipped
            }
        self.message_user(request, text, messages.SUCCESS if changed else messages.WARNING)


def _ids(queryset) -> list[int]:
    return list(queryset.values_list("pk", flat=True))


def _suppressed(queryset) -> int:
    """How many of the selected invitations are to an address that bounced, complained or opted out."""
    return queryset.count() - queryset.unsuppressed().count()


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses not invited again because they hard-bounced, complained or opted out."""

    list_display = ["email", "reason", "detail", "created", "invitation", "lifted"]
    list_filter = ["reason", "created", ("lifted", admin.EmptyFieldListFilter)]
    search_fields = ["email"]
    readonly_fields = ["email", "reason", "detail", "created", "invitation", "lifted"]
    actions = ["lift"]

    def has_add_permission(self, request):
        return False  # only a provider's word or the invitee's opt-out suppresses an address

    @admin.action(description=_("Lift: allow inviting these addresses again"), permissions=["delete"])
    def lift(self, request, queryset):
        lifted = services.suppressions_lift(ids=_ids(queryset))
        self.message_user(
            request,
            gettext("%(count)d address(es) may be invited again.") % {"count": lifted},
            messages.SUCCESS,
        )
