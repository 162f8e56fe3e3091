"""The `tria` commands of identity and access: `tria token`, `tria user`, `tria staff`,
`tria apikey`, `tria auth keygen`. Registered on the `tria` app by cli.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import typer

from .config import get_settings

user_app = typer.Typer(help="Outlets' user accounts.", no_args_is_help=True)
staff_app = typer.Typer(help="Tria staff accounts (roles staff, admin).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of integrations (channels).", no_args_is_help=True)
auth_app = typer.Typer(help="Token signing keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(token)
    app.add_typer(user_app, name="user")
    app.add_typer(staff_app, name="staff")
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(auth_app, name="auth")


def _authenticator():
    from .auth import Authenticator
    from .cli import _sessions  # the migrated database, as every `tria` command opens it

    return Authenticator.from_settings(get_settings(), _sessions())


def _read_password() -> str:
    """The first line of stdin (`--password-stdin`): never a command-line argument,
    which other users of the machine can read in the process list."""
    import sys

    return sys.stdin.readline().rstrip("\r\n")


def _new_user(email: str, role: str, outlet: str | None, password_stdin: bool) -> None:
    from .auth import UnknownOutlet, UserExists, WeakPassword

    auth = _authenticator()
    password = _read_password() if password_stdin else None
    try:
        user = auth.add_user(email, role, outlet, password)
    except WeakPassword as exc:
        raise typer.BadParameter(str(exc), param_hint="password")
    except UserExists:
        raise typer.BadParameter(f"a user with email {email} exists already", param_hint="--email")
    except UnknownOutlet:
        raise typer.BadParameter(f"no outlet has customer id {outlet}", param_hint="--customer")
    where = f"for {outlet}" if outlet else f"({role})"
    if password is not None:
        typer.echo(f"User {user.email} {where} created; they can log in at POST /api/auth/login.")
        return
    token = auth.set_password_token(user)
    typer.echo(f"User {user.email} {where} created without a password. Give them this one-time", err=True)
    typer.echo("set-password token (valid 24 h, shown once), for POST /api/auth/set-password {token, password}:", err=True)
    typer.echo(token)


@auth_app.command("keygen")
def auth_keygen(kid: str = typer.Option(None, help="The key's id (default: k-<date>).")) -> None:
    """Print a new signing key, "kid:secret", for AUTH_SIGNING_KEYS (put it first to rotate)."""
    import secrets

    kid = kid or f"k-{datetime.now():%Y%m%d}"
    typer.echo(f"{kid}:{secrets.token_urlsafe(48)}")


def token(
    customer: str = typer.Option(None, "--customer", help="An outlet's customer id, e.g. OUT-001."),
    staff: str = typer.Option(None, "--staff", help="A staff user's email."),
    ttl: str = typer.Option(None, help="Lifetime: 12h, 30m, 7d (default ACCESS_TOKEN_TTL)."),
) -> None:
    """Print an access token (customer or staff) on stdout, for `Authorization: Bearer`."""
    if bool(customer) == bool(staff):
        raise typer.BadParameter("give exactly one of --customer and --staff")
    from .cli import parse_age

    lifetime = parse_age(ttl) if ttl else timedelta(seconds=get_settings().access_token_ttl)
    auth = _authenticator()
    try:
        issued = auth.issue_for_outlet(customer, lifetime) if customer else auth.issue_for_staff(staff, lifetime)
    except LookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="--customer" if customer else "--staff")
    typer.echo(issued.token)


@user_app.command("add")
def user_add(
    customer: str = typer.Option(..., "--customer", help="The outlet's customer id."),
    email: str = typer.Option(..., "--email"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin; "
                                        "without it a one-time set-password token is printed."),
) -> None:
    """Create a user of an outlet (an outlet may have several)."""
    _new_user(email, "customer", customer, password_stdin)


@user_app.command("revoke")
def user_revoke(email: str = typer.Option(..., "--email")) -> None:
    """Revoke every token the user holds (they log in again)."""
    try:
        _authenticator().revoke_user(email)
    except LookupError as exc:
        raise typer.BadParameter(str(exc), param_hint="--email")
    typer.echo(f"Every token of {email} is revoked.")


@staff_app.command("add")
def staff_add(
    email: str = typer.Option(..., "--email"),
    role: str = typer.Option("staff", "--role", help="staff or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create a Tria staff account."""
    if role not in ("staff", "admin"):
        raise typer.BadParameter("staff or admin", param_hint="--role")
    _new_user(email, role, None, password_stdin)


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option(..., "--name", help="The integration, e.g. whatsapp."),
    scope: list[str] = typer.Option(["chat"], "--scope", help="What the key may do (chat)."),
) -> None:
    """Print a new API key once (only its hash is stored). The name's older keys stay
    valid: switch the integration to the new key, then revoke the old one by --id."""
    try:
        key, record = _authenticator().create_api_key(name, frozenset(scope))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope")
    typer.echo(f"API key {record.id} for {name} (scopes: {' '.join(sorted(record.scopes))}); shown once:", err=True)
    typer.echo(key)


@apikey_app.command("revoke")
def apikey_revoke(
    name: str = typer.Option(..., "--name"),
    key_id: int = typer.Option(None, "--id", help="Only this key (see `tria apikey list`); default: all of the name."),
) -> None:
    """Revoke an integration's API keys."""
    revoked = _authenticator().revoke_api_keys(name, key_id)
    if not revoked:
        typer.echo(f"No active API key named {name}" + (f" with id {key_id}." if key_id else "."), err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked API key(s) {', '.join(map(str, revoked))} of {name}.")


@apikey_app.command("list")
def apikey_list() -> None:
    """Every API key: id, name, scopes, created, revoked (never the key)."""
    for key in _authenticator().store.api_keys():
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        typer.echo(f"{key.id}\t{key.name}\t{' '.join(sorted(key.scopes))}\t{key.created_at:%Y-%m-%d %H:%M}\t{state}")
