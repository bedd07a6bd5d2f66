"""telehub hub service: accounts, sites, presence, the live call queue, signaling relay and the central store."""
