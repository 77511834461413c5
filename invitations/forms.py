import csv
import io
from collections.abc import Iterable, Iterator

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import Group
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from invitations import bulk, services
from invitations.models import Invitation
from invitations.services import BulkResult

MAX_BULK_ADDRESSES = 10_000
MAX_CSV_BYTES = 2 * 1024 * 1024


class GrantableGroups:
    """A form's `groups` field: any group id is a valid choice (an unknown one is
    "invalid_choice"), but only those the sender may grant are offered and accepted."""

    def limit_groups(self) -> None:
        if "groups" in self.fields:
            self.grantable = services.groups_grantable_by(self.sender)
            field = self.fields["groups"]
            field.queryset = Group.objects.all()
            widget = getattr(field.widget, "widget", field.widget)  # the admin wraps it
            widget.choices = [(group.pk, group.name) for group in self.grantable.order_by("name")]

    def clean_groups(self) -> list[Group]:
        groups = list(self.cleaned_data["groups"])
        refused = [group.name for group in groups if group not in self.grantable]
        if refused:
            raise forms.ValidationError(
                _("You may not grant %(groups)s."),
                code="not_grantable",
                params={"groups": ", ".join(refused)},
            )
        return groups


def language_choices() -> list[tuple[str, str]]:
    return list(settings.LANGUAGES)


class InviteeLanguage:
    """A form's `language`: a code of settings.LANGUAGES, by default the sender's active language."""

    def init_language(self) -> None:
        field = forms.ChoiceField(
            choices=language_choices, required=False, initial=translation.get_language(), label=_("Language")
        )
        self.fields["language"] = field

    def clean_language(self) -> str:
        return self.cleaned_data["language"] or translation.get_language() or settings.LANGUAGE_CODE


class InvitationForm(InviteeLanguage, GrantableGroups, forms.ModelForm):
    """One address to invite, and the groups the invitee joins on accepting. Saving queues the
    mail; it never sends it."""

    class Meta:
        model = Invitation
        fields = ["email", "groups", "language"]
        widgets = {
            "email": forms.EmailInput(attrs={"placeholder": "name@example.com", "autofocus": True}),
            "groups": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, sender=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sender = sender
        self.limit_groups()
        if "language" in self.fields:
            self.init_language()

    def clean_email(self) -> str:
        return services.normalize_email(self.cleaned_data["email"])

    def validate_constraints(self):
        # clean() already looked for an open invitation, with a clearer message; the database
        # constraint still stops a concurrent duplicate (the view reports it).
        pass

    def clean(self):
        if "email" not in self.fields:  # the admin's change form: the address is history
            return super().clean()
        email = self.cleaned_data.get("email")
        if email is None:  # the address itself is invalid; the sender may be over the limit too
            result = BulkResult.RATE_LIMITED if services.rate_quota(sender=self.sender) == 0 else None
        else:
            [(email, result)] = services.invitations_screen(emails=[email], sender=self.sender)
        if result == BulkResult.INVALID:  # e.g. longer than the column once in its IDNA form
            self.add_error("email", forms.ValidationError(_("Enter a valid email address."), code="invalid"))
        elif result == BulkResult.SUPPRESSED:
            [note] = services.suppression_notes(emails=[email]).values()
            error = forms.ValidationError(
                _("%(email)s %(note)s."), code="suppressed", params={"email": email, "note": note}
            )
            self.add_error("email", error)
        elif result == BulkResult.ALREADY_INVITED:
            error = forms.ValidationError(
                _("%(email)s already has an open invitation."),
                code="already_invited",
                params={"email": email},
            )
            self.add_error("email", error)
        elif result == BulkResult.RATE_LIMITED:
            raise forms.ValidationError(
                _("You have reached the limit of invitations per hour. Try again later."), code="rate_limited"
            )
        return super().clean()

    def save(self, commit: bool = True) -> Invitation:
        if not commit:
            raise ValueError("InvitationForm.save() always commits: the row is the outbox.")
        # Screened again under the sender's lock: clean() answered with a clear message, but a
        # request of the same sender may have used the hour's last invitation since.
        self.instance = services.invitation_create(
            email=self.cleaned_data["email"],
            sender=self.sender,
            groups=self.cleaned_data.get("groups", []),
            language=self.cleaned_data.get("language", ""),
        )
        return self.instance


def addresses_from_csv(lines: Iterable[str]) -> Iterator[str]:
    """The values of the one `email` column (any case) of CSV lines (a file, or
    `io.StringIO(text)`), read row by row: a file is never held whole. ValidationError, from
    the first row on, if it has no such column, has two, has a NUL byte, or is not CSV."""
    try:
        reader = csv.DictReader(_refusing_nul(lines))
        columns = [name for name in reader.fieldnames or [] if (name or "").strip().lower() == "email"]
        if not columns:
            raise forms.ValidationError(_("The CSV file has no “email” column."), code="no_email_column")
        if len(columns) > 1:
            raise forms.ValidationError(
                _("The CSV file has %(count)d “email” columns (%(names)s): keep one."),
                code="duplicate_email_column",
                params={"count": len(columns), "names": ", ".join(columns)},
            )
        for row in reader:
            yield row[columns[0]] or ""
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise forms.ValidationError(
                _("A field of the CSV file is longer than %(limit)s characters."),
                code="field_too_long",
                params={"limit": f"{csv.field_size_limit():,}"},
            ) from error
        raise forms.ValidationError(
            _("The CSV file could not be read (%(error)s)."), code="bad_csv", params={"error": error}
        ) from error


def _refusing_nul(lines: Iterable[str]) -> Iterator[str]:
    """The lines, until one holds a NUL byte: no address holds one, and PostgreSQL cannot even
    look it up."""
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise forms.ValidationError(
                _("The CSV file contains a NUL byte (line %(line)d)."),
                code="nul_byte",
                params={"line": number},
            )
        yield line


class BulkInvitationForm(InviteeLanguage, GrantableGroups, forms.Form):
    """Many addresses at once: pasted (any separator) and/or a CSV file with an `email` column;
    each invitation with the same groups."""

    addresses = forms.CharField(
        required=False,
        label=_("Addresses"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "one@example.com, two@example.com …"}),
        help_text=_("Separate addresses with commas, spaces or new lines."),
    )
    csv_file = forms.FileField(
        required=False, label=_("or a CSV file"), help_text=_("With an “email” column.")
    )
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label=_("Groups")
    )

    def __init__(self, *args, sender=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sender = sender
        self.limit_groups()
        self.init_language()

    def clean_csv_file(self) -> list[str]:
        upload = self.cleaned_data["csv_file"]
        if upload is None:
            return []
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(_("The CSV file is larger than 2 MB."), code="too_large")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(_("The CSV file is not UTF-8 text."), code="bad_csv") from error
        return list(addresses_from_csv(io.StringIO(text)))

    def clean(self):
        cleaned = super().clean()
        pasted = bulk.split_addresses(cleaned.get("addresses", ""))
        emails = [email for email in [*pasted, *cleaned.get("csv_file", [])] if email.strip()]
        if not emails and not self.errors:
            raise forms.ValidationError(_("Paste some addresses or choose a CSV file."), code="empty")
        if len(emails) > MAX_BULK_ADDRESSES:
            raise forms.ValidationError(
                _("At most %(max)d addresses at once."), code="too_many", params={"max": MAX_BULK_ADDRESSES}
            )
        cleaned["emails"] = emails
        return cleaned


class AcceptForm(UserCreationForm):
    """Sign-up for an invitee, for any user model (see `accept_form_class`): the e-mail is the
    invited address and cannot change. Saved by acceptance.invitation_accept, with the acceptance."""

    def __init__(self, *args, invitation: Invitation, **kwargs):
        super().__init__(*args, **kwargs)
        # The invited address, also for the similarity validator to compare the password with.
        setattr(self.instance, self._meta.model.get_email_field_name(), invitation.email)

    def clean(self):
        user_model = self._meta.model
        if user_model.get_email_field_name() == user_model.USERNAME_FIELD:
            # The address is the username but no field of the form: the model's unique check
            # does not see it.
            address = getattr(self.instance, user_model.USERNAME_FIELD)
            lookup = {f"{user_model.USERNAME_FIELD}__iexact": address}
            if user_model._default_manager.filter(**lookup).exists():
                raise forms.ValidationError(
                    _("An account with this e-mail address already exists."), code="account_exists"
                )
        return super().clean()


def accept_form_class() -> type[AcceptForm]:
    """AcceptForm for the project's user model: its USERNAME_FIELD (unless that is the e-mail
    field), its REQUIRED_FIELDS, then password1 and password2."""
    user_model = get_user_model()
    email_field = user_model.get_email_field_name()
    fields = [
        name for name in [user_model.USERNAME_FIELD, *user_model.REQUIRED_FIELDS] if name != email_field
    ]
    return forms.modelform_factory(user_model, form=AcceptForm, fields=fields)
