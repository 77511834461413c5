"""import_invitations reads the CSV in batches: results counted, never held; a bad file changes nothing."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from invitations.management.commands import import_invitations
from invitations.models import Invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(import_invitations, "BATCH", 2)


def test_a_file_larger_than_a_batch_is_imported_whole_and_counted(tmp_path, small_batches):
    path = tmp_path / "people.csv"
    path.write_text(
        "email\na@example.com\nb@example.com\n\nnope\nc@example.com\na@example.com\nd@example.com\n"
    )
    out = StringIO()

    call_command("import_invitations", str(path), stdout=out)

    emails = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    assert sorted(Invitation.objects.values_list("email", flat=True)) == emails
    assert out.getvalue().split("\n") == ["      1 already invited", "      1 invalid", "      4 queued", ""]


def test_a_nul_byte_late_in_the_file_imports_nothing(tmp_path, small_batches):
    path = tmp_path / "people.csv"
    path.write_text("email\na@example.com\nb@example.com\nc@example.com\nd@exa\x00mple.com\n")

    with pytest.raises(CommandError, match=r"NUL byte \(line 5\)"):
        call_command("import_invitations", str(path))

    assert not Invitation.objects.exists()
