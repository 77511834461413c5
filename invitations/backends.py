"""Django's SMTP backend, greeting the server with a name that is the site's, not the machine's."""

import smtplib

from django.core.mail.backends.smtp import EmailBackend

from invitations.conf import app_settings


class _GreetsAsTheSite:
    """Whatever name the caller passes, EHLO (or HELO) says INVITATIONS["EHLO_NAME"]."""

    def __init__(self, host: str = "", port: int = 0, local_hostname: str | None = None, **kwargs) -> None:
        super().__init__(host, port, app_settings.EHLO_NAME, **kwargs)


class SMTP(_GreetsAsTheSite, smtplib.SMTP):
    pass


class SMTP_SSL(_GreetsAsTheSite, smtplib.SMTP_SSL):  # noqa: N801 - smtplib's name
    pass


class SMTPBackend(EmailBackend):
    """Django's SMTP backend, except for the EHLO name: INVITATIONS["EHLO_NAME"], by default the
    host of SITE_URL. Django's says the machine's name (`DNS_NAME`), which on a host without a
    domain name is `localhost`: a receiving server scored such a mail 6.0 in SpamAssassin
    (HELO_LOCALHOST, FSL_HELO_NON_FQDN_1, KHOP_HELO_FCRDNS), i.e. spam. Set it as MAILERS'
    BACKEND (Django 6.1) or EMAIL_BACKEND (5.2); every other option is Django's."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return SMTP_SSL if self.use_ssl else SMTP
