"""The `tria` command: serve, chat, db, kb, admin, worker, xero, order; identity and
access (token, user, staff, apikey, auth) are in cli_access.py."""

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


# Identity and access: `tria token`, `tria user|staff|apikey|auth ...`.
from . import cli_access  # noqa: E402  (registers on `app`, which it needs defined)

cli_access.register(app)
