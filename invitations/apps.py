from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = "Invitations"

    def ready(self) -> None:
        from invitations import tracking  # noqa: F401 - connects the providers' tracking signal
