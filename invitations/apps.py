from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = "Invitations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the `manage.py check` checks; connects the providers' tracking signal.
        from invitations import checks, tracking  # noqa: F401
