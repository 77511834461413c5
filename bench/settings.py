"""Bench settings: the product's settings plus the baseline view, for the bench's own processes.

The product's web and worker processes run with `myproject.settings` unchanged; this module
is used by the runner (which publishes backlogs), the "send inside the view" web process and
the Celery worker.
"""

import copy

from myproject.settings import *  # noqa: F403
from myproject.settings import CHANNEL_LAYERS as PRODUCT_CHANNEL_LAYERS
from myproject.settings import INVITATION_CHANNEL

ROOT_URLCONF = "bench.urls"

# channels-redis checks capacity and applies expiry when a message is *sent*, so these two
# numbers only change what the runner itself publishes: a whole backlog goes onto the
# channel up front and stays there until a worker takes it, as it would in Celery's broker.
CHANNEL_LAYERS = copy.deepcopy(PRODUCT_CHANNEL_LAYERS)
CHANNEL_LAYERS["default"]["CONFIG"]["channel_capacity"] = {INVITATION_CHANNEL: 1_000_000}
CHANNEL_LAYERS["default"]["CONFIG"]["expiry"] = 3600
