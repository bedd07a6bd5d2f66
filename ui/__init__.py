"""telehub Qt programs: the nurse/specialist/manager desk, the site station and the demo."""
