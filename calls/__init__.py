"""telehub call engine: signaling client, aiortc peer connections, media, call state (no Qt)."""
