"""Xero through its official SDK (xero-python): tokens, limits, the client, the gateway.

Everything here needs the [xero] extra; importing any of it without the extra says so.
"""

from ...extras import require

for _module in ("xero_python", "tenacity", "pybreaker", "cryptography"):
    require(_module, "xero")
