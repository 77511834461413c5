"""What a failed send means: try again later, never, or after the provider's own pause."""

import re
import smtplib
from dataclasses import dataclass

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

from invitations.conf import app_settings

# SMTP replies with which providers say "too many" to every mail of the sender (Amazon SES:
# 454 Throttling failure: Maximum sending rate exceeded; Gmail: 421 4.7.0 … unusual rate of
# unsolicited mail; 451 4.7.1 rate limited). Whole words only, and never "try again later":
# a greylisting server says that of one recipient ("451 4.7.1 Greylisted, please try again
# later"), which is a retry of that recipient, not a pause of the fleet.
THROTTLING_CODES = {421, 451, 454}
THROTTLING_TEXT = re.compile(r"\b(?:rate|ratelimit\w*|throttl\w*|too\s+many|limit(?:s|ed)?)\b", re.IGNORECASE)
# RFC 3463 subjects of one recipient or one message (X.1 address, X.2 mailbox, X.5 protocol,
# e.g. 4.5.3 too many recipients, X.6 content): whatever the words, not the provider's pace.
RECIPIENT_STATUS = re.compile(r"\s*[45]\.[1256]\.\d{1,3}\b")
# A Retry-After in seconds (RFC 9110: digits; a fraction is taken too). ASCII only: str.isdigit()
# and float() also take other scripts' digits.
SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# HTTP statuses a provider answers for a message or address it will never take.
REFUSED_STATUSES = {400, 404, 406, 409, 413, 422}


@dataclass(frozen=True)
class SendFailure:
    """Why a send failed, whether trying again could help, and whether the provider asked
    everybody to slow down (`retry_after` seconds, when it said how long)."""

    permanent: bool
    error: str
    throttled: bool = False
    retry_after: float | None = None


def classify(exc: Exception) -> SendFailure:
    """SMTP 5xx, refused recipients and malformed addresses are permanent; 4xx, 429, 5xx from
    an HTTP API, disconnects and timeouts are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return _smtp(code, text)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, AnymailRecipientsRefused):  # the provider's own words are in its answer
        said = exc.response.text if getattr(exc, "response", None) is not None else str(exc)
        return SendFailure(permanent=True, error=f"refused by the provider: {said}"[:2000])
    if isinstance(exc, AnymailAPIError) and exc.status_code is not None:
        return _http(exc)
    if isinstance(exc, ValueError):
        return SendFailure(permanent=True, error=f"invalid address: {exc}")
    return SendFailure(permanent=False, error=f"{type(exc).__name__}: {exc}")


def _smtp(code: int, text: bytes | str) -> SendFailure:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    throttled = (
        code in THROTTLING_CODES and not RECIPIENT_STATUS.match(text) and bool(THROTTLING_TEXT.search(text))
    )
    return SendFailure(permanent=code >= 500, error=f"SMTP {code} {text}", throttled=throttled)


def _http(exc: AnymailAPIError) -> SendFailure:
    status = exc.status_code
    error = f"HTTP {status} from the provider: {exc}"[:2000]
    if status == 429:
        return SendFailure(permanent=False, error=error, throttled=True, retry_after=_retry_after(exc))
    return SendFailure(permanent=status in REFUSED_STATUSES, error=error)


def _retry_after(exc: AnymailAPIError) -> float | None:
    """The seconds the provider asked for (Retry-After; Brevo's x-sib-ratelimit-reset), at most
    RETRY_CAP: the whole fleet pauses for it, and a header is no reason to stop for years. None
    when it said none, a date or no number (the backoff then decides)."""
    headers = exc.response.headers if getattr(exc, "response", None) is not None else {}
    value = (headers.get("Retry-After") or headers.get("x-sib-ratelimit-reset") or "").strip()
    if not SECONDS.fullmatch(value):
        return None
    return min(float(value), app_settings.RETRY_CAP)  # a 400-digit value is inf, and capped too
