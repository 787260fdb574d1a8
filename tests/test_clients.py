"""The contract as front ends use it, checked with their own tools from ``clients/``.

Codegen and ``tsc --strict`` over every operation, the Apollo Client 4 example and the Postman
collection (under newman) against a real server, the schema diff against the last release, and
graphql-http's GraphQL over HTTP audit. ``make test-clients`` runs ``npm ci`` in ``clients/`` and
then these; a missing tool fails them.
"""

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from conftest import FAST_HASHING, LEGACY_OPERATIONS_FILE, STRONG_PASSWORD, TEST_SECRET_KEY
from graphql import OperationDefinitionNode, OperationType, build_schema, parse
from server import PROJECT_ROOT, VENV_BIN, Server, running_gunicorn

pytestmark = pytest.mark.clients

CLIENTS = PROJECT_ROOT / "clients"
PICTURE = CLIENTS / "postman" / "picture.png"
COLLECTION = CLIENTS / "postman" / "accounts.postman_collection.json"
# graphql-http's audits that may warn, and why: README, "The two media types".
DOCUMENTED_AUDIT_WARNINGS = {"572B", "FDE2", "7B9B"}
WARNING = re.compile(r"\bwarn(ing)?s?\b", re.IGNORECASE)
TOOL_TIMEOUT = 120
# A field of User, with its description: removing it breaks clients that select it.
USER_DEPARTMENT = '  "Department; an empty string when not set."\n  department: String!\n'


def npm_run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``npm run <script> -- <args>`` in ``clients/``; stdout and stderr as text."""
    assert shutil.which("npm"), "npm is not installed: the clients checks need Node.js and npm"
    assert (CLIENTS / "node_modules").is_dir(), "clients/node_modules is missing: run `cd clients && npm ci`"
    return subprocess.run(
        ["npm", "run", "--silent", script, *(["--", *args] if args else [])],
        cwd=CLIENTS,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
    )


def output(result: subprocess.CompletedProcess) -> str:
    return f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def generated() -> list[subprocess.CompletedProcess]:
    """``npm run codegen`` then ``npm run typecheck``: what each printed."""
    return [npm_run("codegen"), npm_run("typecheck")]


@pytest.fixture(scope="module")
def example(generated: list[subprocess.CompletedProcess]) -> None:
    """The Apollo example compiled to ``clients/build/`` for Node."""
    for result in [*generated, npm_run("build")]:
        assert result.returncode == 0, output(result)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("clients")) as server:
        yield server


def run_example(server: Server, username: str, **tokens: str) -> dict:
    """The example's JSON report of a run as ``username``; ``tokens`` resume a stored session."""
    result = npm_run("example", server.graphql_url, username, STRONG_PASSWORD, str(PICTURE), env=tokens)
    assert result.returncode == 0, output(result)
    return json.loads(result.stdout)


def expired_copy(access_token: str) -> str:
    """The same token, signed with the server's key, but expired a minute ago."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    now = int(time.time())
    return jwt.encode({**claims, "iat": now - 120, "exp": now - 60}, TEST_SECRET_KEY, algorithm="HS256")


def create_superuser(server: Server, username: str) -> None:
    """``flask --app wsgi users create-superuser`` on the server's database."""
    env = {
        **os.environ,
        **{name: str(value) for name, value in FAST_HASHING.items()},
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": server.database_url,
        "INSTANCE_PATH": str(server.folder / "instance"),
        "UPLOAD_FOLDER": str(server.folder / "uploads"),
        "SUPERUSER_PASSWORD": STRONG_PASSWORD,
    }
    command = ["users", "create-superuser", "--username", username, "--email", f"{username}@example.com"]
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", *command],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, output(result)


def operation_texts(source: str) -> dict[str, str]:
    """Each named operation of a document, as written."""
    document = parse(source)
    return {
        node.name.value: source[node.loc.start : node.loc.end]
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode) and node.name and node.loc
    }


def collection_operations() -> list[str]:
    """The GraphQL of every request of the Postman collection, JSON bodies and multipart alike."""
    requests_found: list[str] = []

    def walk(items: list[dict]) -> None:
        for item in items:
            walk(item.get("item", []))
            body = item.get("request", {}).get("body", {})
            if body.get("mode") == "graphql":
                requests_found.append(body["graphql"]["query"])
            elif body.get("mode") == "formdata":
                parts = {part["key"]: part for part in body["formdata"]}
                requests_found.append(json.loads(parts["operations"]["value"])["query"])

    walk(json.loads(COLLECTION.read_text())["item"])
    return requests_found


# Codegen and the compiler


def test_codegen_and_the_strict_typecheck_pass_without_a_warning(
    generated: list[subprocess.CompletedProcess],
) -> None:
    for result in generated:
        assert result.returncode == 0, output(result)
        assert not WARNING.search(result.stdout + result.stderr), output(result)


def test_codegen_covers_every_legacy_operation_unchanged() -> None:
    operations = {}
    for path in sorted((CLIENTS / "operations").glob("*.graphql")):
        operations.update(operation_texts(path.read_text()))
    for name, text in operation_texts(LEGACY_OPERATIONS_FILE.read_text()).items():
        assert operations.get(name) == text, f"{name} differs from tests/fixtures/legacy-operations.graphql"


# The Apollo Client example


def test_the_apollo_example_logs_in_asks_whoami_and_uploads_a_picture(example: None, server: Server) -> None:
    username = server.register("apollo")[0]
    report = run_example(server, username)
    assert (report["loggedIn"], report["refreshes"]) == (True, 0)
    assert report["whoami"]["username"] == username
    picture_url = report["upload"]["user"]["profilePictureUrl"]
    assert picture_url.startswith(f"{server.url}/")
    picture = requests.get(picture_url, timeout=server.request_timeout)
    assert (picture.status_code, picture.headers["Content-Type"]) == (200, "image/png")


def test_the_apollo_example_refreshes_an_expired_access_token_and_retries(
    example: None, server: Server
) -> None:
    username, session = server.register("stale")
    report = run_example(
        server,
        username,
        ACCOUNTS_ACCESS_TOKEN=expired_copy(session["token"]),
        ACCOUNTS_REFRESH_TOKEN=session["refreshToken"],
    )
    assert (report["loggedIn"], report["refreshes"]) == (False, 1)
    assert report["whoami"]["username"] == username
    assert report["upload"]["user"]["profilePictureUrl"]


# The Postman collection


def test_the_postman_collection_sends_every_query_and_mutation_as_written_in_operations() -> None:
    schema = build_schema((PROJECT_ROOT / "schema.graphql").read_text())
    known = {}
    for path in sorted((CLIENTS / "operations").glob("*.graphql")):
        known.update(operation_texts(path.read_text()))
    used: set[str] = set()
    for text in collection_operations():
        (operation,) = parse(text).definitions
        assert isinstance(operation, OperationDefinitionNode) and operation.name
        assert text.strip() == known.get(operation.name.value), f"{operation.name.value} differs"
        root = "Mutation" if operation.operation == OperationType.MUTATION else "Query"
        used |= {f"{root}.{field.name.value}" for field in operation.selection_set.selections}
    every_field = {f"Query.{name}" for name in schema.query_type.fields}
    every_field |= {f"Mutation.{name}" for name in schema.mutation_type.fields}
    assert every_field - used == set()


def test_the_postman_collection_passes_under_newman(server: Server) -> None:
    create_superuser(server, "postman_admin")
    variables = {
        "baseUrl": server.url,
        "username": "postman",
        "email": "postman@example.com",
        "password": STRONG_PASSWORD,
        "adminUsername": "postman_admin",
        "adminPassword": STRONG_PASSWORD,
    }
    options = [option for name, value in variables.items() for option in ("--env-var", f"{name}={value}")]
    result = npm_run("newman", "--color", "off", *options)
    assert result.returncode == 0, output(result)


# The schema diff against the last release


def test_the_schema_has_no_unannounced_breaking_change_since_the_last_release() -> None:
    result = npm_run("schema-diff")
    assert result.returncode == 0, output(result)


@pytest.mark.parametrize(
    ("announcement", "passes"),
    [
        pytest.param(None, False, id="not announced"),
        pytest.param("## [Unreleased]\n\n### Breaking\n- `User.department` is gone.\n", True, id="announced"),
        pytest.param(
            "## [Unreleased]\n\n### Added\n- `User.department` is gone.\n", False, id="not under Breaking"
        ),
        pytest.param(
            "## [Unreleased]\n\n### Breaking\n- Nothing.\n\n## [0.1.0]\n\n### Breaking\n- `User.department`",
            False,
            id="under a released version",
        ),
    ],
)
def test_a_breaking_change_fails_the_schema_diff_unless_the_changelog_announces_it(
    tmp_path: Path, announcement: str | None, passes: bool
) -> None:
    sdl = (PROJECT_ROOT / "schema.graphql").read_text()
    removed = sdl.replace(USER_DEPARTMENT, "", 1)
    assert removed != sdl
    (tmp_path / "schema.graphql").write_text(removed)
    env = {"SCHEMA": str(tmp_path / "schema.graphql")}
    if announcement is not None:
        (tmp_path / "CHANGELOG.md").write_text(f"# Changelog\n\n{announcement}")
        env["CHANGELOG"] = str(tmp_path / "CHANGELOG.md")
    result = npm_run("schema-diff", env=env)
    assert (result.returncode == 0) == passes, output(result)
    assert "Field department was removed from object type User" in result.stdout + result.stderr


# GraphQL over HTTP


def test_the_graphql_over_http_audit_finds_nothing_but_the_documented_warnings(server: Server) -> None:
    result = npm_run("audit", server.graphql_url)
    report = json.loads(result.stdout)
    problems = [
        audit
        for audit in report["results"]
        if audit["status"] in ("error", "notice")
        or (audit["status"] == "warn" and audit["id"] not in DOCUMENTED_AUDIT_WARNINGS)
    ]
    assert problems == [], json.dumps(problems, indent=2)
    assert result.returncode == 0, output(result)
