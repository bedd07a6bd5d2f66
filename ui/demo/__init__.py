"""telehub-demo: a hub night in a box (a real hub, enrolled sites, synthetic callers, the desk)."""
