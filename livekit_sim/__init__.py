"""LiveKit API simulator: speaks LiveKit's Twirp server API so the official clients work unchanged.

>>> from clocks import VirtualClock
>>> with LiveKitSimulator(VirtualClock(), agents={"support": "wake:12"}) as sim:
...     ...  # LiveKitAPI(sim.url, "devkey", "secret")
"""

from .behaviours import BEHAVIOURS, Behaviour, BehaviourKind, behaviour_help, parse_behaviour
from .errors import TWIRP_STATUS, TwirpError
from .simulator import LiveKitSimulator
from .sip import ANSWERS, DEFAULT_TRUNK, parse_answer
from .webhooks import WebhookRecord, check_share, check_url, event_body, signed_headers

__all__ = [
    "ANSWERS",
    "BEHAVIOURS",
    "DEFAULT_TRUNK",
    "TWIRP_STATUS",
    "Behaviour",
    "BehaviourKind",
    "LiveKitSimulator",
    "TwirpError",
    "WebhookRecord",
    "behaviour_help",
    "check_share",
    "check_url",
    "event_body",
    "parse_answer",
    "parse_behaviour",
    "signed_headers",
]
