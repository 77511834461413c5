from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.resend import ResendTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from invitations.tracking import bad_request_on_malformed_body
from invitations.views import healthz

handler500 = "invitations.views.server_error"  # a database outage is a clear 503
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="invitations:list", permanent=False)),
    path("invites/", include("invitations.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]

# The providers' tracking webhooks, through anymail's views; never served without the secret
# (basic auth) that guards them.
TRACKING_WEBHOOKS = {
    "amazon_ses": AmazonSESTrackingWebhookView,
    "brevo": BrevoTrackingWebhookView,
    "mailgun": MailgunTrackingWebhookView,
    "postmark": PostmarkTrackingWebhookView,
    "resend": ResendTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
}
if settings.ANYMAIL["WEBHOOK_SECRET"]:
    urlpatterns += [
        path(
            f"anymail/{esp}/tracking/", bad_request_on_malformed_body(view.as_view()), name=f"{esp}-tracking"
        )
        for esp, view in TRACKING_WEBHOOKS.items()
    ]
