"""API keys of integrations: high-entropy random strings, stored only as SHA-256.

A slow hash (argon2) protects guessable passwords; a 256-bit random key cannot be
guessed, so one SHA-256 suffices and lets the key be looked up by its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "tria_"  # recognisable in a leaked config file or a secret scanner
MAX_LENGTH = 200


def new_api_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(key_hash(key), stored_hash)


def looks_like_a_key(key: str) -> bool:
    return key.startswith(PREFIX) and len(key) <= MAX_LENGTH and key.isascii()
