"""The Lambda handlers, one module per function of template.yaml.

A cold start imports one of them, and with it livekit-api, pydantic and Powertools: hundreds of
thousands of objects that live as long as the execution environment. Python's cyclic garbage
collector would walk them again and again while they are being created (a collection every 700 new
container objects, a full one every hundred or so), finding nothing to free: about a tenth of the
import's CPU time (``make bench-startup``). So importing this package turns the collector off, and each
handler module, once its imports are done, calls ``loaded()``: the objects made so far are frozen
(``gc.freeze``: moved to the permanent generation, never walked again, by later collections either)
and the collector is turned back on for what the invocations allocate.

No collection runs before the freeze: the import's few reference cycles stay as they are, as they
would until the first full collection. A handler import that fails leaves the collector off; in
Lambda that execution environment is discarded with the failed init.
"""

from __future__ import annotations

import gc

if gc.isenabled():  # a process where the collector is on; a second handler import finds it on again
    gc.disable()


def loaded() -> None:
    """The end of a handler module's imports: freeze what they made, turn the collector back on."""
    gc.freeze()
    gc.enable()
