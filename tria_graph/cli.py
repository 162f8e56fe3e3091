"""The `tria` command: serve, chat, db seed, kb build, and identity and access
(token, user, staff, apikey)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import typer
from tqdm import tqdm

from .config import DATA_DIR, get_settings

app = typer.Typer(help="Tria customer-service bot.", no_args_is_help=True)
db_app = typer.Typer(help="The orders database.", no_args_is_help=True)
kb_app = typer.Typer(help="The policy knowledge base.", no_args_is_help=True)
app.add_typer(db_app, name="db")
admin_app = typer.Typer(help="Operations: retention.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(admin_app, name="admin")
xero_app = typer.Typer(help="Xero: connect, keys.", no_args_is_help=True)
app.add_typer(xero_app, name="xero")
order_app = typer.Typer(help="Orders (operators).", no_args_is_help=True)
app.add_typer(order_app, name="order")
user_app = typer.Typer(help="Outlets' user accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
staff_app = typer.Typer(help="Tria staff accounts (roles staff, admin).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
apikey_app = typer.Typer(help="API keys of integrations (channels).", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
auth_app = typer.Typer(help="Token signing keys.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")


def parse_age(text: str) -> timedelta:
    """'30d', '12h', '45m' or '90s' as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhms])\s*", text)
    if not match:
        raise typer.BadParameter("use a number and a unit: 30d, 12h, 45m or 90s", param_hint="--older-than")
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[match[2]]
    return timedelta(**{unit: int(match[1])})


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (PORT, default 8003)."),
    workers: int = typer.Option(None, min=1, help="Worker processes (WORKERS, default one per core)."),
) -> None:
    """Serve the HTTP API."""
    import os

    from .extras import require

    require("fastapi", "server")
    uvicorn = require("uvicorn", "server")

    settings = get_settings()
    workers = workers or settings.workers or os.cpu_count() or 1
    uvicorn.run(
        "server.main:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        # Whose X-Forwarded-For names the client (the per-address limit, /metrics).
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command()
def chat(
    customer: str = typer.Option(..., "--customer", help="Outlet id, e.g. OUT-001."),
    session: str = typer.Option(None, help="Continue this session id."),
) -> None:
    """Chat with the bot in the terminal (Ctrl-D or 'quit' to leave)."""
    from .bootstrap import open_chat_service
    from .conversation import SessionForbidden, UnknownCustomer

    session_id = session or f"cli-{uuid.uuid4().hex[:12]}"

    async def loop() -> None:
        async with open_chat_service() as service:
            typer.echo(f"Session {session_id} as {customer}. Type 'quit' to leave.")
            while True:
                try:
                    message = await asyncio.to_thread(input, "you> ")
                except EOFError:
                    break
                if message.strip().lower() in ("quit", "exit"):
                    break
                if not message.strip():
                    continue
                try:
                    result = await service.send(session_id, customer, message)
                except UnknownCustomer:
                    raise typer.BadParameter(f"no outlet has customer id {customer}", param_hint="--customer")
                except SessionForbidden:
                    raise typer.BadParameter("that session belongs to another customer", param_hint="--session")
                typer.echo(f"tria> {result.reply}\n      [{result.intent} {result.confidence:.2f}, {result.latency_ms:.0f} ms]")

    asyncio.run(loop())


def _migrated_engine():
    from .adapters.database import make_engine
    from .adapters.migrations import migrate

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    before, after = migrate(engine)
    if before != after:
        # stderr: commands like `tria token` print only their result on stdout.
        typer.echo(f"Database schema upgraded from {before or 'nothing'} to {after}.", err=True)
    return engine


@db_app.command("migrate")
def db_migrate() -> None:
    """Create or upgrade the database schema (Alembic) to this version's."""
    engine = _migrated_engine()
    from .adapters.migrations import head_revision

    typer.echo(f"Database schema is at {head_revision()} (current).")
    engine.dispose()


@db_app.command("seed")
def db_seed(reset: bool = typer.Option(False, help="Empty every demo table first.")) -> None:
    """Migrate the schema and write the demo data (once, unless --reset)."""
    from .adapters.database import session_factory
    from .demo_data import seed

    settings = get_settings()
    engine = _migrated_engine()
    with session_factory(engine)() as session:
        result = seed(session, settings, reset=reset)
    if result["seeded"]:
        typer.echo(
            f"Seeded {result['products']} products, {result['outlets']} outlets, "
            f"{result['orders']} orders, {result['invoices']} invoices."
        )
    else:
        typer.echo("Demo data already present (use --reset to start again).")
    if result.get("users"):
        from .demo_data import DEMO_PASSWORD

        typer.echo(
            f"Demo users ({result['users']}), password {DEMO_PASSWORD!r}: owner@out-001.example ... "
            "owner@out-012.example (one per outlet), ops@tria.example (staff), admin@tria.example (admin).\n"
            "Log in: curl -s localhost:8003/api/auth/login -H 'content-type: application/json' "
            f"-d '{{\"email\": \"owner@out-001.example\", \"password\": \"{DEMO_PASSWORD}\"}}'\n"
            "or mint a token: tria token --customer OUT-001"
        )


@kb_app.command("build")
def kb_build() -> None:
    """Embed the policy documents and the product catalogue into Chroma."""
    from .adapters.embeddings import LocalEmbeddings, kb_embeddings
    from .adapters.policy_kb import PolicyKB, catalog_passages, load_policy_passages
    from .demo_data import catalog_products

    settings = get_settings()
    passages = load_policy_passages(DATA_DIR / "policies") + catalog_passages(catalog_products())
    embeddings = LocalEmbeddings(settings.var_dir / "models")
    embeddings.load()
    try:
        model, model_id = kb_embeddings(settings, embeddings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="EMBEDDINGS") from exc
    kb = PolicyKB.from_settings(settings, model, model_id)
    with tqdm(total=len(passages), desc="Embedding passages", unit="passage") as bar:
        count = kb.build(passages, on_progress=bar.update)
    where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else settings.resolved_chroma_dir
    typer.echo(f"Knowledge base ready: {count} passages in {where}, embedded with {model_id}.")
    # The intent classifier shares the model; training it here spares the server's
    # first start (and every replica) from doing it.
    from .adapters.intent_classifier import IntentClassifier

    IntentClassifier.load_or_train(embeddings, settings.var_dir / "models", settings.intent_threshold)
    typer.echo("Intent classifier ready.")


@admin_app.command("prune")
def admin_prune(
    older_than: str = typer.Option(..., "--older-than", help="Idle for longer than this: 30d, 12h, 45m, 90s."),
) -> None:
    """Remove conversations (checkpoints and transcripts) idle for longer than --older-than."""
    from .retention import prune_conversations

    age = parse_age(older_than)
    settings = get_settings()
    # Sessions record their activity in business time (as SQLite stores it, wall clock).
    now = datetime.now(ZoneInfo(settings.timezone))
    removed = asyncio.run(prune_conversations(settings, age, now))
    typer.echo(f"Removed {removed} conversation(s) idle for more than {older_than.strip()}.")


def _sessions():
    from .adapters.database import session_factory

    return session_factory(_migrated_engine())


@app.command()
def worker(once: bool = typer.Option(False, help="Process what is due now, then exit.")) -> None:
    """Send invoices to Xero (and void cancelled ones) from the outbox, until stopped."""
    from .bootstrap import build_xero_worker

    settings = get_settings()
    xero = build_xero_worker(settings, _sessions())
    if xero is None:
        raise typer.BadParameter(
            "Xero is not configured: set XERO_CLIENT_ID, XERO_CLIENT_SECRET and XERO_TOKEN_KEY "
            "(and run `tria xero connect`)."
        )
    typer.echo(f"Xero worker {xero.owner} started.")
    try:
        if once:
            typer.echo(f"Processed {xero.run_once()} outbox entries.")
        else:
            asyncio.run(xero.run_forever())
    except KeyboardInterrupt:
        pass
    finally:
        xero.close()


@xero_app.command("keygen")
def xero_keygen() -> None:
    """Print a new XERO_TOKEN_KEY (the key that encrypts stored Xero tokens)."""
    from .extras import require

    Fernet = require("cryptography.fernet", "xero").Fernet

    typer.echo(Fernet.generate_key().decode())


@xero_app.command("connect")
def xero_connect(timeout: float = typer.Option(300, help="Seconds to wait for the consent.")) -> None:
    """Authorise Tria in Xero: open the printed URL, approve, and the tokens are stored."""
    from .adapters.xero import oauth
    from .adapters.xero.tokens import TokenStore

    settings = get_settings()
    if not settings.xero_configured:
        raise typer.BadParameter("set XERO_CLIENT_ID, XERO_CLIENT_SECRET and XERO_TOKEN_KEY first")
    state = oauth.new_state()
    server = oauth.callback_server(settings.xero_redirect_uri)
    try:
        typer.echo("Open this URL in a browser and approve access to your Xero organisation:")
        typer.echo(oauth.consent_url(settings, state), color=False)
        code = oauth.wait_for_callback(server, state, timeout)
    except oauth.ConsentFailed as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1)
    finally:
        server.server_close()
    token = oauth.exchange_code(settings, code)
    orgs = oauth.tenants(settings, token["access_token"])
    tenant = settings.xero_tenant_id or (orgs[0]["tenantId"] if orgs else "")
    if not tenant:
        typer.echo("The consent covers no organisation.", err=True)
        raise typer.Exit(1)
    TokenStore(_sessions(), settings.xero_token_key).save(token, tenant)
    name = next((o.get("tenantName") for o in orgs if o["tenantId"] == tenant), tenant)
    typer.echo(f"Connected to Xero organisation {name} ({tenant}); tokens stored encrypted.")


@order_app.command("cancel")
def order_cancel(
    number: str = typer.Argument(..., help="Order number, e.g. SO-10042."),
    customer: str = typer.Option(..., "--customer", help="The outlet's customer id."),
) -> None:
    """Cancel a confirmed order; its invoice is voided in Xero (or never sent)."""
    from .adapters.orders import OrderNotCancellable, OrderNotFound, OrderStore

    from .auth.audit import CLI, AuditLog

    sessions = _sessions()
    try:
        order = OrderStore(sessions).cancel_order(customer, number)
    except (OrderNotFound, OrderNotCancellable) as exc:
        typer.echo(f"Cannot cancel: {exc}.", err=True)
        raise typer.Exit(1)
    AuditLog(sessions).record(CLI, "order.cancelled", target=order["number"], outlet_id=customer)
    typer.echo(f"Order {order['number']} is cancelled; its invoice, if any, will be voided by the worker.")


# --- identity and access ----------------------------------------------------------------


def _authenticator():
    from .auth import Authenticator

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


@app.command()
def token(
    customer: str = typer.Option(None, "--customer", help="An outlet's customer id, e.g. OUT-001."),
    staff: str = typer.Option(None, "--staff", help="A staff user's email."),
    ttl: str = typer.Option(None, help="Lifetime: 12h, 30m, 7d (default ACCESS_TOKEN_TTL)."),
) -> None:
    """Print an access token (customer or staff) on stdout, for `Authorization: Bearer`."""
    if bool(customer) == bool(staff):
        raise typer.BadParameter("give exactly one of --customer and --staff")
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
