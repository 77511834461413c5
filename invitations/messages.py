"""The message on the send-invite channel: a wake-up that names invitations by id, never
their address or anything else; the row is read fresh from the database.

    {"type": "invitation.send", "id": 42}          published, one per invitation
    {"type": "invitation.send", "id": 42, "ahead": True}   published in the priority lane
    {"type": "invitation.send", "ids": [42, 43]}   merged by a worker from those it took at once

"ahead" lets the mail take the fleet's next send turn before the bulk (throttle.py); merged
wake-ups have none (a worker merges only without a send rate, where there are no turns).
"""

SEND_MESSAGE_TYPE = "invitation.send"


def wake_up(invitation_id: int, *, ahead: bool = False) -> dict:
    return {"type": SEND_MESSAGE_TYPE, "id": invitation_id, **({"ahead": True} if ahead else {})}


def wake_up_ids(message: dict) -> list[int] | None:
    """The invitation ids a wake-up names; None when it names none, or anything but integers."""
    ids = [message["id"]] if "id" in message else message.get("ids")
    if not isinstance(ids, list) or not ids or any(type(pk) is not int for pk in ids):
        return None
    return ids


def merge_wake_ups(messages: list[dict]) -> list[dict]:
    """Several wake-ups as one, so that a consumer claims their invitations in one statement;
    any other message as it came."""
    if len(messages) < 2:
        return messages
    ids, others = [], []
    for message in messages:
        named = wake_up_ids(message) if message.get("type") == SEND_MESSAGE_TYPE else None
        if named:
            ids.extend(named)
        else:
            others.append(message)
    return [{"type": SEND_MESSAGE_TYPE, "ids": ids}, *others] if ids else others
