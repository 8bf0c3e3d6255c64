"""LiveKit API simulator: speaks LiveKit's Twirp server API so the official clients work unchanged.

>>> from clocks import VirtualClock
>>> with LiveKitSimulator(VirtualClock(), agents={"support": "wake:12"}) as sim:
...     ...  # LiveKitAPI(sim.url, "devkey", "secret")
"""

from .behaviours import BEHAVIOURS, Behaviour, BehaviourKind, behaviour_help, parse_behaviour
from .errors import TWIRP_STATUS, TwirpError
from .simulator import LiveKitSimulator
from .sip import parse_answer
from .webhooks import WebhookRecord, check_share, check_url, signed_headers

__all__ = [
    "BEHAVIOURS",
    "TWIRP_STATUS",
    "Behaviour",
    "BehaviourKind",
    "LiveKitSimulator",
    "TwirpError",
    "WebhookRecord",
    "behaviour_help",
    "check_share",
    "check_url",
    "parse_answer",
    "parse_behaviour",
    "signed_headers",
]
