"""The state Escalate recovers after "Prepare request" failed: what can be read of the input, cut to
LiveKit's 256 characters."""

from __future__ import annotations

from dispatch_verify.logic.request import recover_state


def test_an_over_long_room_and_agent_name_are_kept_cut_to_256_characters() -> None:
    # Given an input refused for its names, 300 characters each
    raw = {"room": "r" * 300, "agent_name": "a" * 300}

    # When Escalate recovers the state from it
    state = recover_state(raw, "exec-1")

    # Then the first 256 characters of each are kept
    assert state.request.room == "r" * 256 and state.request.agent_name == "a" * 256
