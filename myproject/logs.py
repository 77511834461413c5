"""What the project's log lines may not carry."""

import logging
import re

# The mailed link's key in a path (uvicorn's access line of GET /invites/accept/<key>/).
ACCEPT_KEY = re.compile(r"(/accept/)(?!set/)[^/?#\s\"']+")


class ForgetAcceptKeys(logging.Filter):
    """Writes `[key]` in place of an accept link's key in a line's text: a log that leaks is
    then no list of working links."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/accept/" in message:
            record.msg, record.args = ACCEPT_KEY.sub(r"\1[key]", message), ()
        return True
