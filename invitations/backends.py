"""Authentication backend: Django's ModelBackend, with a user's permissions in one query."""

from django.contrib.auth import backends


class ModelBackend(backends.ModelBackend):
    """Reads a user's own permissions and their groups' permissions in one UNION query.

    Every staff page checks a permission, and Django's ModelBackend reads the two sets with a
    query each. The answers are the same, cached on the user for the request as Django caches
    them; superusers, inactive users and the per-set methods are left to Django.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache") and not user_obj.is_superuser:
            own, grouped = (
                permissions.values_list("content_type__app_label", "codename").order_by()
                for permissions in (
                    self._get_user_permissions(user_obj),
                    self._get_group_permissions(user_obj),
                )
            )
            user_obj._perm_cache = {
                f"{app_label}.{codename}" for app_label, codename in own.union(grouped).order_by()
            }
        return super().get_all_permissions(user_obj, obj)
