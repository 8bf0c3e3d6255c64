"""dispatch-verify: dispatch a LiveKit agent into a room and prove it arrived."""
