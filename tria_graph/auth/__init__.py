"""Identity and access: users and their roles, passwords (argon2), signed access
tokens (JWT), API keys of integrations, and the audit log.

Plain typed code plus one store (store.py) and the audit log (audit.py) on the
database; `Authenticator` (service.py) is what the server and the CLI call.
Authentication belongs to the server: `ChatService` (the library) trusts its caller.
"""

from .audit import AuditEntry, AuditLog, turn_action
from .identity import Forbidden, CustomerRequired, Identity, Role, Unauthorized
from .passwords import WeakPassword
from .service import Authenticator, IssuedToken
from .store import AuthStore, UnknownOutlet, User, UserExists
from .tokens import KeyConfigError, SigningKey, TokenSigner

__all__ = [
    "AuditEntry", "AuditLog", "turn_action", "Forbidden", "CustomerRequired", "Identity", "Role",
    "Unauthorized", "WeakPassword", "Authenticator", "IssuedToken", "AuthStore", "UnknownOutlet", "User",
    "UserExists", "KeyConfigError", "SigningKey", "TokenSigner",
]
