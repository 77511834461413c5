"""Test defaults for the environment, loaded as a pytest plugin before Django reads settings."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-key-not-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# Unit tests never touch a real Redis: an unused DB index and a prefix of their own.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("CHANNEL_PREFIX", f"test{os.getpid()}")
# Tracking webhooks are served only with a secret; tests post with this one.
os.environ.setdefault("ANYMAIL_WEBHOOK_SECRET", "provider:webhook-test-secret")
