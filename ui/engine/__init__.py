"""The Qt side of the call engine, shared by the desk, the station and the demo."""
