"""The site station (``telehub-site``): care-home and prison staff call the hub with one action."""
