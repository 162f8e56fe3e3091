"""Xero through its official SDK (xero-python): tokens, limits, the client, the gateway."""
