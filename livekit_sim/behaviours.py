"""Agent fleet behaviours, one per agent name, written as short text (``warm``, ``wake:12``...)."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("warm", "wake", "never", "none", "reject", "leave")
JOIN_DELAY_S = 0.3  # a warm worker's agent joins this long after the dispatch
DEFAULT_IDLE_S = 600.0  # a woken worker stays warm this long after its last job

_HELP = (
    "behaviour must be one of: 'warm', 'wake:S' (or 'wake:S:IDLE'), 'never', 'none', 'reject', "
    "'leave:S' with S a non-negative number of seconds"
)


@dataclass(frozen=True)
class Behaviour:
    """What the worker registered for one agent name does with a dispatch.

    kind:
      warm    job assigned at once (JS_RUNNING), agent joins ``JOIN_DELAY_S`` after the dispatch
      wake    worker asleep: wakes ``seconds`` after the first dispatch; then warm until it has been
              idle for ``idle_s`` seconds, then asleep again
      never   a job is created JS_PENDING and never progresses (the sleeping-agent case)
      none    no worker registered: the dispatch keeps zero jobs
      reject  no capacity: the job is created and fails (JS_FAILED, resource_exhausted)
      leave   joins like warm, leaves ``seconds`` after joining; job JS_FAILED
    """

    kind: str
    seconds: float = 0.0
    idle_s: float = DEFAULT_IDLE_S

    def __str__(self) -> str:
        if self.kind == "wake":
            idle = "" if self.idle_s == DEFAULT_IDLE_S else f":{self.idle_s:g}"
            return f"wake:{self.seconds:g}{idle}"
        if self.kind == "leave":
            return f"leave:{self.seconds:g}"
        return self.kind


def _seconds(text: str, original: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"bad behaviour {original!r}: {text!r} is not a number of seconds; {_HELP}"
        ) from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"bad behaviour {original!r}: seconds must be finite and >= 0; {_HELP}")
    return value


def parse_behaviour(text: str | Behaviour) -> Behaviour:
    """Parse ``warm``, ``wake:S[:IDLE]``, ``never``, ``none``, ``reject`` or ``leave:S``."""
    if isinstance(text, Behaviour):
        return text
    if not isinstance(text, str):
        raise ValueError(f"bad behaviour {text!r}: expected text; {_HELP}")
    parts = text.strip().lower().split(":")
    kind, args = parts[0], parts[1:]
    if kind in ("warm", "never", "none", "reject"):
        if args:
            raise ValueError(f"bad behaviour {text!r}: {kind!r} takes no argument; {_HELP}")
        return Behaviour(kind)
    if kind == "wake" and len(args) in (1, 2):
        idle = _seconds(args[1], text) if len(args) == 2 else DEFAULT_IDLE_S
        return Behaviour("wake", _seconds(args[0], text), idle)
    if kind == "leave" and len(args) == 1:
        return Behaviour("leave", _seconds(args[0], text))
    if kind in ("wake", "leave"):
        raise ValueError(f"bad behaviour {text!r}: {kind!r} needs seconds, e.g. '{kind}:5'; {_HELP}")
    raise ValueError(f"bad behaviour {text!r}: unknown kind {kind!r}; {_HELP}")
