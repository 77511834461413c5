from django.apps import AppConfig


class HostsiteConfig(AppConfig):
    name = "hostsite"

    def ready(self) -> None:
        from hostsite import receivers  # noqa: F401
