"""The live side of the hub: connections, the call queue, claims, escalation and signal relay."""
