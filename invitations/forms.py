import csv
import io
import re

from django import forms
from django.contrib.auth.forms import UserCreationForm

from invitations import services
from invitations.models import Invitation

MAX_BULK_ADDRESSES = 10_000
MAX_CSV_BYTES = 2 * 1024 * 1024


class InvitationForm(forms.ModelForm):
    """One address to invite. Saving queues the mail; it never sends it."""

    class Meta:
        model = Invitation
        fields = ["email"]
        widgets = {"email": forms.EmailInput(attrs={"placeholder": "name@example.com", "autofocus": True})}

    def __init__(self, *args, sender=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sender = sender

    def clean_email(self) -> str:
        return services.normalize_email(self.cleaned_data["email"])

    def validate_constraints(self):
        # clean() already looked for an open invitation, with a clearer message; the database
        # constraint still stops a concurrent duplicate (the view reports it).
        pass

    def clean(self):
        email = self.cleaned_data.get("email")  # None when the address itself is invalid
        checks = services.invitation_checks(email=email, sender=self.sender)  # one query for both
        if checks.already_invited:
            error = forms.ValidationError(
                "%(email)s already has an open invitation.", code="already_invited", params={"email": email}
            )
            self.add_error("email", error)
        if checks.quota == 0:
            raise forms.ValidationError(
                "You have reached the limit of invitations per hour. Try again later.", code="rate_limited"
            )
        return super().clean()

    def save(self, commit: bool = True) -> Invitation:
        if not commit:
            raise ValueError("InvitationForm.save() always commits: the row is the outbox.")
        self.instance = services.invitation_create(email=self.cleaned_data["email"], sender=self.sender)
        return self.instance


class BulkInvitationForm(forms.Form):
    """Many addresses at once: pasted (any separator) and/or a CSV file with an `email` column."""

    addresses = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "one@example.com, two@example.com …"}),
        help_text="Separate addresses with commas, spaces or new lines.",
    )
    csv_file = forms.FileField(required=False, label="or a CSV file", help_text="With an “email” column.")

    def clean_csv_file(self) -> list[str]:
        upload = self.cleaned_data["csv_file"]
        if upload is None:
            return []
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError("The CSV file is larger than 2 MB.", code="too_large")
        try:
            reader = csv.DictReader(io.StringIO(upload.read().decode("utf-8-sig")))
            fields = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
            if "email" not in fields:
                raise forms.ValidationError("The CSV file has no “email” column.", code="no_email_column")
            return [row[fields["email"]] or "" for row in reader]
        except (UnicodeDecodeError, csv.Error) as error:
            raise forms.ValidationError("The file is not a UTF-8 CSV file.", code="bad_csv") from error

    def clean(self):
        cleaned = super().clean()
        pasted = re.split(r"[\s,;]+", cleaned.get("addresses", ""))
        emails = [email for email in [*pasted, *cleaned.get("csv_file", [])] if email.strip()]
        if not emails and not self.errors:
            raise forms.ValidationError("Paste some addresses or choose a CSV file.", code="empty")
        if len(emails) > MAX_BULK_ADDRESSES:
            raise forms.ValidationError(
                "At most %(max)d addresses at once.", code="too_many", params={"max": MAX_BULK_ADDRESSES}
            )
        cleaned["emails"] = emails
        return cleaned


class AcceptForm(UserCreationForm):
    """Sign-up for an invitee: the e-mail is the invited address and cannot change."""

    def __init__(self, *args, invitation: Invitation, **kwargs):
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        # Lets the similarity validator compare the password with the address.
        self.instance.email = invitation.email

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.email = self.invitation.email
        if commit:
            user.save()
        return user
