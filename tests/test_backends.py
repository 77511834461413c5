import pytest
from django.contrib.auth import backends as django_backends
from django.contrib.auth.models import Group, Permission

from invitations.backends import ModelBackend


@pytest.fixture
def permission():
    def get(codename: str) -> Permission:
        return Permission.objects.get(codename=codename)

    return get


@pytest.fixture
def member(django_user_model, permission):
    """A user with one permission of their own and two through a group (one of them repeated)."""
    user = django_user_model.objects.create_user("member")
    user.user_permissions.add(permission("add_invitation"))
    group = Group.objects.create(name="editors")
    group.permissions.add(permission("add_invitation"), permission("change_invitation"))
    user.groups.add(group)
    return user


def fresh(user):
    """The user as a new request loads it: no permissions cached yet."""
    return type(user).objects.get(pk=user.pk)


@pytest.mark.django_db
def test_a_user_has_the_same_permissions_as_with_djangos_backend(member):
    ours = ModelBackend().get_all_permissions(fresh(member))
    assert ours == django_backends.ModelBackend().get_all_permissions(fresh(member))
    assert ours == {"invitations.add_invitation", "invitations.change_invitation"}


@pytest.mark.django_db
def test_permissions_are_read_in_one_query_and_cached_for_the_request(member, django_assert_num_queries):
    user = fresh(member)
    with django_assert_num_queries(1):
        assert user.has_perm("invitations.change_invitation")
        assert user.has_perm("invitations.add_invitation")
        assert not user.has_perm("invitations.delete_invitation")


@pytest.mark.django_db
def test_a_user_without_permissions_has_none(django_user_model):
    assert ModelBackend().get_all_permissions(django_user_model.objects.create_user("nobody")) == set()


@pytest.mark.django_db
def test_an_inactive_user_has_no_permissions(member):
    member.is_active = False
    member.save()
    assert not fresh(member).has_perm("invitations.add_invitation")
    assert ModelBackend().get_all_permissions(fresh(member)) == set()


@pytest.mark.django_db
def test_a_superuser_has_every_permission(django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="x-long-password")
    assert len(ModelBackend().get_all_permissions(fresh(admin))) == Permission.objects.count()


@pytest.mark.django_db
def test_object_permissions_are_not_granted(member):
    assert ModelBackend().get_all_permissions(fresh(member), obj=object()) == set()


@pytest.mark.django_db
def test_permissions_taken_away_are_gone_in_the_next_request(member, permission):
    assert fresh(member).has_perm("invitations.change_invitation")
    Group.objects.get(name="editors").permissions.remove(permission("change_invitation"))
    assert not fresh(member).has_perm("invitations.change_invitation")


@pytest.mark.django_db
def test_the_query_written_once_reads_each_users_own_permissions(member, django_user_model, permission):
    assert fresh(member).has_perm("invitations.change_invitation")
    other = django_user_model.objects.create_user("other")
    other.user_permissions.add(permission("delete_invitation"))
    assert ModelBackend().get_all_permissions(fresh(other)) == {"invitations.delete_invitation"}
    assert not fresh(other).has_perm("invitations.change_invitation")
