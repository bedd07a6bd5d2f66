"""telehub-desk: the hub nurse's and specialist's desk (queue, call, triage, history)."""
