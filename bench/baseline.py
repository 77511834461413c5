"""What both baselines (send inside the view, Celery) do with a key, as the product does: a fresh
random key for the link and only its SHA-256 digest on the row. (Not invitations.models.key_digest:
Celery imports this module before Django is set up.)"""

import hashlib
import secrets


def new_key() -> tuple[str, str]:
    """A link key and its digest."""
    key = secrets.token_urlsafe(32)
    return key, hashlib.sha256(key.encode()).hexdigest()
