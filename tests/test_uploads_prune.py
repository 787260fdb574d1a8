"""``flask uploads prune``: picture files no account references, older than an hour, are deleted."""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import GraphQL, send_picture
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from server import PROJECT_ROOT, migrate, server_environment

HOUR = 3600
FLASK = Path(sys.executable).parent / "flask"
UPDATE_USER = """
mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePicture } } }
"""
HEX = "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def _empty_upload_folder(app: Flask) -> None:
    shutil.rmtree(app.config["UPLOAD_FOLDER"], ignore_errors=True)


def uploaded_picture(client: FlaskClient, token: str) -> str:
    """Upload a small PNG as the caller's picture; its stored path."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    response = send_picture(client, UPDATE_USER, buffer.getvalue(), token=token)
    assert response.status_code == 200 and "errors" not in response.get_json(), response.get_json()
    return response.get_json()["data"]["updateUser"]["user"]["profilePicture"]


def plant(folder: Path, relative: str, age: float) -> Path:
    """A file at ``folder/relative`` last written ``age`` seconds ago."""
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"picture")
    age_files(path, age=age)
    return path


def age_files(*paths: Path, age: float) -> None:
    then = time.time() - age
    for path in paths:
        os.utime(path, (then, then))


def prune(app: Flask, *options: str) -> str:
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["uploads", "prune", *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_prune_deletes_old_unreferenced_files_and_keeps_referenced_and_fresh_ones(app: Flask, client):
    folder = Path(app.config["UPLOAD_FOLDER"])
    referenced = uploaded_picture(client, GraphQL(client).register("ali")["token"])
    age_files(folder / referenced, age=30 * 24 * HOUR)
    old_orphan = plant(folder, f"profile_pics/{HEX}.jpg", age=HOUR + 60)
    old_part = plant(folder, f"profile_pics/.{'a' * 32}.png.part", age=2 * HOUR)
    fresh_orphan = plant(folder, f"profile_pics/{'b' * 32}.webp", age=60)
    fresh_part = plant(folder, f"profile_pics/.{'c' * 32}.gif.part", age=60)

    output = prune(app)

    assert "Removed 2 " in output
    assert not old_orphan.exists() and not old_part.exists()
    assert (folder / referenced).is_file()
    assert fresh_orphan.is_file() and fresh_part.is_file()


def test_prune_deletes_any_unreferenced_file_in_the_upload_folder_but_its_dotfiles(app: Flask, client):
    folder = Path(app.config["UPLOAD_FOLDER"])
    names = ["profile_pics/orphan.png", f"profile_pics/{HEX.upper()}.png", f"{HEX}.png", "a/b.txt"]
    strays = [plant(folder, relative, age=10 * HOUR) for relative in names]
    keep = plant(folder, ".gitkeep", age=10 * HOUR)

    output = prune(app)

    assert "Removed 4 " in output
    assert "Removed profile_pics/orphan.png" in output
    assert not any(path.exists() for path in strays)
    assert keep.is_file()


def test_a_dry_run_lists_what_it_would_delete_and_deletes_nothing(app: Flask, client):
    folder = Path(app.config["UPLOAD_FOLDER"])
    orphan = plant(folder, "profile_pics/orphan.jpg", age=2 * HOUR)

    output = prune(app, "--dry-run")

    assert "Would remove profile_pics/orphan.jpg" in output
    assert "Would remove 1 " in output
    assert orphan.is_file()


def test_older_than_sets_the_age_a_file_must_reach(app: Flask, client):
    folder = Path(app.config["UPLOAD_FOLDER"])
    ten_minutes = plant(folder, f"profile_pics/{'d' * 32}.png", age=600)
    five_seconds = plant(folder, f"profile_pics/{'e' * 32}.png", age=5)

    assert "Removed 1 " in prune(app, "--older-than", "300")

    assert not ten_minutes.exists() and five_seconds.is_file()


def test_prune_with_no_folder_yet_removes_nothing(app: Flask, client):
    assert "Removed 0 " in prune(app)


def test_the_flask_command_prunes_a_servers_upload_folder(tmp_path: Path):
    env = server_environment(tmp_path)
    migrate(env)
    folder = Path(env["UPLOAD_FOLDER"])
    kept = plant(folder, f"profile_pics/{'1' * 32}.png", age=5 * HOUR)
    orphan = plant(folder, f"profile_pics/{'2' * 32}.png", age=5 * HOUR)
    engine = sa.create_engine(env["DATABASE_URL"], poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO users (username, username_key, username_skeleton, email, email_key,"
                " password_hash, first_name, last_name, is_staff, is_superuser, is_active, date_joined,"
                " position, department, profile_picture) VALUES ('ali', 'ali', 'ali', 'ali@example.com',"
                " 'ali@example.com', 'x', '', '', false, false, true, CURRENT_TIMESTAMP, '', '', :picture)"
            ),
            {"picture": f"profile_pics/{kept.name}"},
        )
    engine.dispose()

    result = subprocess.run(
        [str(FLASK), "--app", "wsgi", "uploads", "prune"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert f"Removed profile_pics/{orphan.name}" in result.stdout
    assert "Removed 1 unreferenced files." in result.stdout
    assert kept.is_file() and not orphan.exists()
