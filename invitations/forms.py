from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import BaseUserManager

from invitations import services
from invitations.models import Invitation


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
        email = BaseUserManager.normalize_email(self.cleaned_data["email"].strip())
        if Invitation.objects.open_for(email).exists():
            raise forms.ValidationError(
                "%(email)s already has an open invitation.",
                code="already_invited",
                params={"email": email},
            )
        return email

    def save(self, commit: bool = True) -> Invitation:
        if not commit:
            raise ValueError("InvitationForm.save() always commits: the row is the outbox.")
        self.instance = services.invitation_create(email=self.cleaned_data["email"], sender=self.sender)
        return self.instance


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
