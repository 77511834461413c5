"""How this site names people in invitation mails and pages (INVITATIONS["USER_DISPLAY_NAME"])."""


def display_name(user) -> str:
    """auth.User's full name where it has one, else the username."""
    return user.get_full_name() or user.get_username()
