"""LiveKit API simulator: speaks LiveKit's Twirp server API so the official clients work unchanged.

>>> from sandbox.clock import VirtualClock
>>> with LiveKitSimulator(VirtualClock(), agents={"support": "wake:12"}) as sim:
...     ...  # LiveKitAPI(sim.url, "devkey", "secret")
"""

from .behaviours import Behaviour, parse_behaviour
from .errors import TWIRP_STATUS, TwirpError
from .simulator import LiveKitSimulator
from .webhooks import WebhookRecord, signed_headers

__all__ = [
    "TWIRP_STATUS",
    "Behaviour",
    "LiveKitSimulator",
    "TwirpError",
    "WebhookRecord",
    "parse_behaviour",
    "signed_headers",
]
