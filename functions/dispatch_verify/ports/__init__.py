"""Interfaces the logic needs from the world outside (LiveKit, the escalation channels), with the
value types that cross them. Implemented in adapters/; faked in the unit tests."""
