"""telehub hub: accounts, sites, presence, the call queue, signaling and the central store."""
