"""A call's life on the bus: timeline state, pure transitions, handoff timers."""
