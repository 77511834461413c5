from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invitations import services
from invitations.changelist import EstimatedCountPaginator, SenderFilter, StatusFilter
from invitations.conf import app_settings
from invitations.forms import InvitationForm
from invitations.models import Invitation, Suppression

Status = Invitation.Status
__all__ = ["EstimatedCountPaginator", "InvitationAdmin", "SuppressionAdmin"]
# What each of the change page's buttons does, to which statuses (as the actions do).
RESENDABLE, RETRYABLE, REVOCABLE = (
    [Status.SENT],
    [Status.FAILED],
    [Status.PENDING, Status.SENT, Status.FAILED],
)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    # A million rows: no count of the whole table (twice) and no date list over every row.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Rendering the rows is most of a page's time (~1 ms a row): 50, as the staff board shows.
    list_per_page = 50
    # What tells rows apart, narrow enough for 1,280 px beside the filters; the rest is on the
    # change page.
    list_display = ["email", "status", "sender", "sent", "created"]
    list_filter = [
        StatusFilter,
        SenderFilter,
        "created",
        "sent",
        ("reminded", admin.EmptyFieldListFilter),
        "groups",
    ]
    # A prefix of the address (as stored: the domain is lowercase) and a provider's message id,
    # both answered from an index; a substring search would read every row.
    search_fields = ["email__startswith", "message_id__exact"]
    search_help_text = _("The start of an address (any case), or a provider's message id.")
    add_fieldsets = [(None, {"fields": ["email", "groups", "language"]})]  # what one can type
    fieldsets = [
        (None, {"fields": ["email", "status", "last_error", "sender", "groups", "language"]}),
        (
            _("Dates"),
            {"fields": ["created", "sent", "link_expires", "delivered", "reminded", "accepted", "ended"]},
        ),
        (
            _("Delivery"),
            {
                "classes": ["collapse"],
                "fields": [
                    "attempts",
                    "message_id",
                    "next_attempt_at",
                    "published_at",
                    "claimed_at",
                    "claimed_by",
                ],
            },
        ),
    ]
    readonly_fields = [
        "sender", "status", "created", "sent", "link_expires", "delivered", "reminded", "message_id",
        "accepted", "attempts", "last_error", "ended", "next_attempt_at", "published_at", "claimed_at",
        "claimed_by",
    ]  # fmt: skip
    actions = ["resend", "retry_now", "revoke"]

    class Media:
        css = {"all": ["invitations/admin.css"]}  # the change page's buttons as object tools

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/resend/", view(self.resend_view), name="{}_{}_resend".format(*info)),
            path("<path:object_id>/retry/", view(self.retry_view), name="{}_{}_retry".format(*info)),
            path("<path:object_id>/revoke/", view(self.revoke_view), name="{}_{}_revoke".format(*info)),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and app_settings.OVERRIDE_RECIPIENTS:  # once, not again after an action
            override = ", ".join(app_settings.OVERRIDE_RECIPIENTS)
            text = gettext("Staging: every invitation mail goes to %(override)s, not to the address invited.")
            self.message_user(request, text % {"override": override}, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Here, not in change_view: the object the view read already, not a second query for it.
        context["invitation_buttons"] = self._buttons(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_search_results(self, request, queryset, search_term):
        """search_fields' lookups, plus the lowercase term: addresses are mostly stored in lower
        case, and a case-insensitive LIKE (UPPER(email)) could use no index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        address = Q(email__startswith=term) | Q(email__startswith=term.lower())
        return queryset.filter(address | Q(message_id=term)), False

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        # Added: only what one types. Changed: the address is history (invite again instead); the
        # groups may change until the invitation is accepted or ends.
        if obj is None:
            return []
        return [*self.readonly_fields, "email", "language"]

    def has_change_permission(self, request, obj=None):
        # An accepted or ended invitation has nothing left to edit: Django's read-only view of it,
        # without Save buttons. The actions and buttons ask for the permission on the model.
        if obj is not None and obj.status not in Status.open():
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description=_("link expires"))
    def link_expires(self, obj):
        return formats.localize(timezone.localtime(obj.expires)) if obj.expires else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class SenderInvitationForm(form):  # knows its sender while it validates: the same screen
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, sender=request.user, **form_kwargs)

        return SenderInvitationForm

    def save_form(self, request, form, change):
        if change:
            # Only the groups of an open invitation may change (save_related), and
            # InvitationForm.save() refuses commit=False: there is nothing else to save.
            return form.instance
        return form.save()  # creates the row and queues it on commit

    def save_model(self, request, obj, form, change):
        # Added: InvitationForm.save() created it. Changed: nothing else is editable, and a
        # full-row save could overwrite what a worker stamped on the row meanwhile.
        pass

    def save_related(self, request, form, formsets, change):
        # Added: InvitationForm.save() stored the groups with the row. Changed: only the groups.
        if change and "groups" in form.cleaned_data:
            services.invitation_groups_set(invitation=form.instance, groups=form.cleaned_data["groups"])

    @admin.action(description=_("Resend with a fresh key (sent or expired)"), permissions=["change"])
    def resend(self, request, queryset):
        changed = services.invitations_requeue(ids=_ids(queryset), statuses=RESENDABLE)
        self._report(request, queryset, changed, gettext("queued again"), suppressed=_suppressed(queryset))

    @admin.action(description=_("Retry now (failed)"), permissions=["change"])
    def retry_now(self, request, queryset):
        changed = services.invitations_requeue(ids=_ids(queryset), statuses=RETRYABLE)
        self._report(
            request, queryset, changed, gettext("queued for a retry"), suppressed=_suppressed(queryset)
        )

    @admin.action(description=_("Revoke…"), permissions=["change"])
    def revoke(self, request, queryset):
        """Asks first, as Django's delete_selected does; the confirmation posts back with "post"."""
        if request.POST.get("post") != "yes":
            return self._revoke_confirmation(request, queryset, cancel_url=request.get_full_path())
        self._report(request, queryset, services.invitations_revoke(ids=_ids(queryset)), gettext("revoked"))
        return None

    def resend_view(self, request, object_id):
        return self._object_action(request, object_id, self.resend)

    def retry_view(self, request, object_id):
        return self._object_action(request, object_id, self.retry_now)

    def revoke_view(self, request, object_id):
        invitation, change_url = self._acted_on(request, object_id)
        if request.method == "POST":
            return self._object_action(request, object_id, self.revoke)
        return self._revoke_confirmation(
            request, Invitation.objects.filter(pk=invitation.pk), cancel_url=change_url, single=True
        )

    def _object_action(self, request, object_id, action):
        """A change page's button: the action on that one invitation, then back to its page."""
        invitation, change_url = self._acted_on(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        action(request, Invitation.objects.filter(pk=invitation.pk))
        return HttpResponseRedirect(change_url)

    def _acted_on(self, request, object_id) -> tuple[Invitation, str]:
        if not self.has_change_permission(request):
            raise PermissionDenied
        invitation = self.get_object(request, unquote(object_id))
        if invitation is None:
            raise Http404(gettext("No such invitation."))
        return invitation, reverse("admin:invitations_invitation_change", args=[invitation.pk])

    def _revoke_confirmation(self, request, queryset, *, cancel_url: str, single: bool = False):
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke invitations?"),
            "opts": self.opts,
            "invitations": queryset.filter(status__in=REVOCABLE),
            "skipped": queryset.exclude(status__in=REVOCABLE).count(),
            "selected": [] if single else _ids(queryset),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": cancel_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/invitations/invitation/revoke_confirmation.html", context)

    def _buttons(self, request, invitation) -> list[dict]:
        """The change page's Resend, Retry and Revoke, where the status and permission allow."""
        if invitation is None or not self.has_change_permission(request):
            return []
        buttons = [
            ("resend", gettext("Resend"), RESENDABLE, False),
            ("retry", gettext("Retry now"), RETRYABLE, False),
            ("revoke", gettext("Revoke…"), REVOCABLE, True),
        ]
        return [
            {
                "label": label,
                "confirm": confirm,
                "url": reverse(f"admin:invitations_invitation_{name}", args=[invitation.pk]),
            }
            for name, label, statuses, confirm in buttons
            if invitation.status in statuses
        ]

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
