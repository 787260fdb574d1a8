"""Profile pictures through a real gunicorn: GraphQL multipart uploads, what is stored on disk, serving.

The server runs with small limits (MAX_UPLOAD_SIZE=50000, MAX_IMAGE_PIXELS=10000) so that the
refusals for size can be reached with small files; every accepted picture here fits them.
"""

import contextlib
import http.client
import io
import json
import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LEGACY
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from server import Server, running_gunicorn

TIMEOUT = 20
MAX_UPLOAD_SIZE = 50_000
MAX_IMAGE_PIXELS = 10_000
BODY_LIMIT = MAX_UPLOAD_SIZE + 256 * 1024
PICTURE_PATH = "variables.input.profilePicture"
STORED_NAME = re.compile(r"profile_pics/[0-9a-f]{32}\.(png|jpg|webp|gif)")
LONG_CACHE_SECONDS = 30 * 24 * 3600
OUTSIDE_MARKER = "outside-the-upload-folder-3f9a"

PROFILE = "id email firstName gender profilePicture profilePictureUrl"
UPDATE_USER = f"""
mutation UpdateUser($input: UpdateUserInput!) {{
  updateUser(input: $input) {{ ok user {{ {PROFILE} }} }}
}}
"""
WHOAMI = f"{{ whoami {{ {PROFILE} }} }}"

RED, BLUE = (220, 20, 20), (20, 20, 220)


# Pictures, made in memory.


def picture(image_format: str, size: tuple[int, int] = (24, 16), mode: str = "RGB", **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, RED if mode == "RGB" else 0).save(buffer, image_format, **options)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), index) for index in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF names the camera and where the photo was taken."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (51.0, 23.0, 0.0)})
    return picture("JPEG", (32, 32), exif=exif)


def sideways_jpeg() -> bytes:
    """40x20 pixels, red left half and blue right half, with EXIF orientation 6 (turn 90° clockwise)."""
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def png_with_text_and_exif() -> bytes:
    info = PngInfo()
    info.add_text("Comment", "GPS 35.6892N 51.3890E")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    return picture("PNG", pnginfo=info, exif=exif)


def png_of_size(total: int) -> bytes:
    """A valid 8x8 PNG padded with a text chunk to exactly ``total`` bytes."""
    base = len(png_padded(0))
    data = png_padded(total - base)
    assert len(data) == total
    return data


def png_padded(extra: int) -> bytes:
    info = PngInfo()
    info.add_text("Padding", "x" * extra)
    return picture("PNG", (8, 8), pnginfo=info)


def corrupt_png() -> bytes:
    """A PNG whose compressed pixel data has been overwritten."""
    data = bytearray(picture("PNG", (60, 60), mode="RGB"))
    start = data.index(b"IDAT") + 8
    data[start : start + 40] = b"\x00\xff" * 20
    return bytes(data)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


# The server and its clients.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(
        tmp_path_factory.mktemp("uploads-server"),
        workers=2,
        MAX_UPLOAD_SIZE=str(MAX_UPLOAD_SIZE),
        MAX_IMAGE_PIXELS=str(MAX_IMAGE_PIXELS),
        # Every test registers its own accounts, all from 127.0.0.1.
        REGISTRATION_MAX_PER_IP="100000",
        REGISTRATION_ATTEMPTS_PER_IP="100000",
    ) as server:
        yield server


def upload_folder(server: Server) -> Path:
    return server.folder / "uploads"


def stored_files(server: Server) -> set[str]:
    """Every entry of the picture folder, dot files included."""
    folder = upload_folder(server) / "profile_pics"
    return {entry.name for entry in folder.iterdir()} if folder.exists() else set()


def me(server: Server, token: str) -> dict:
    return server.graphql(WHOAMI, {}, token)["data"]["whoami"]


def update(server: Server, token: str, **changes: Any) -> dict:
    """``updateUser`` as a JSON request; the whole answer."""
    return server.graphql(UPDATE_USER, {"input": changes}, token)


def upload(
    server: Server,
    token: str | None,
    data: bytes,
    filename: str = "photo.png",
    content_type: str = "image/png",
    query: str = UPDATE_USER,
    **changes: Any,
) -> requests.Response:
    """``updateUser`` with a picture, sent as a GraphQL multipart request."""
    operations = {"query": query, "variables": {"input": {**changes, "profilePicture": None}}}
    return requests.post(
        server.graphql_url,
        data={"operations": json.dumps(operations), "map": json.dumps({"0": [PICTURE_PATH]})},
        files={"0": (filename, data, content_type)},
        # Without a token, the header Apollo's upload link sends (multipart requests need one of them).
        headers={"Authorization": f"JWT {token}"} if token else {"Apollo-Require-Preflight": "true"},
        timeout=TIMEOUT,
    )


def uploaded(server: Server, token: str, data: bytes, **kwargs: Any) -> dict:
    """The user after an upload that must succeed."""
    response = upload(server, token, data, **kwargs)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    assert body["data"]["updateUser"]["ok"] is True
    return body["data"]["updateUser"]["user"]


def refused(response: requests.Response, field: str = "profilePicture") -> str:
    """The message of an ``updateUser`` refused with ``BAD_USER_INPUT`` on ``field`` alone."""
    body = response.json()
    assert response.status_code == 200, body
    assert body["data"] == {"updateUser": None}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert list(error["extensions"]["fields"]) == [field], error
    return " ".join(error["extensions"]["fields"][field])


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, allow_redirects=False)


def raw_get(server: Server, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` exactly as written: no client-side normalisation of ``..`` or ``//``."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# Accepted pictures.

ACCEPTED = [
    pytest.param(picture("PNG"), "avatar.jpg", "image/jpeg", "png", "image/png", id="png-named-jpg"),
    pytest.param(picture("PNG", mode="RGBA"), "a.png", "image/png", "png", "image/png", id="png-rgba"),
    pytest.param(picture("PNG", mode="P"), "a.png", "image/png", "png", "image/png", id="png-palette"),
    pytest.param(picture("JPEG"), "photo.png", "image/png", "jpg", "image/jpeg", id="jpeg-named-png"),
    pytest.param(picture("JPEG", mode="CMYK"), "c.jpg", "image/jpeg", "jpg", "image/jpeg", id="jpeg-cmyk"),
    pytest.param(picture("WEBP"), "image.gif", "application/octet-stream", "webp", "image/webp", id="webp"),
    pytest.param(animated_gif(), "anim.txt", "text/plain", "gif", "image/gif", id="animated-gif"),
]


@pytest.mark.parametrize(("data", "filename", "content_type", "extension", "mimetype"), ACCEPTED)
def test_accepted_pictures_are_told_from_their_content_stored_and_served(
    server, data, filename, content_type, extension, mimetype
):
    token = server.new_account()

    user = uploaded(server, token, data, filename=filename, content_type=content_type)

    relative = user["profilePicture"]
    assert STORED_NAME.fullmatch(relative) and relative.endswith(f".{extension}"), relative
    assert user["profilePictureUrl"] == f"{server.url}/uploads/{relative}"
    assert me(server, token)["profilePicture"] == relative
    on_disk = upload_folder(server) / relative
    assert on_disk.is_file()
    assert stat.S_IMODE(on_disk.stat().st_mode) & 0o111 == 0
    served = fetch(user["profilePictureUrl"])
    assert served.status_code == 200
    assert served.headers["Content-Type"] == mimetype
    assert served.content == on_disk.read_bytes()
    assert Image.open(io.BytesIO(served.content)).format == Image.open(io.BytesIO(data)).format


def test_served_pictures_carry_safe_headers_and_a_long_cache_lifetime(server):
    token = server.new_account()
    user = uploaded(server, token, picture("PNG"))

    headers = fetch(user["profilePictureUrl"]).headers

    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].split(";")[0].strip() == "inline"
    max_age = re.search(r"max-age=(\d+)", headers["Cache-Control"])
    assert max_age and int(max_age.group(1)) >= LONG_CACHE_SECONDS, headers["Cache-Control"]


def test_stored_names_are_random_and_never_the_clients(server):
    token = server.new_account()
    data = picture("PNG")

    first = uploaded(server, token, data, filename="../../../evil-name.png")["profilePicture"]
    second = uploaded(server, server.new_account(), data, filename="evil-name.png")["profilePicture"]

    assert first != second
    assert STORED_NAME.fullmatch(first) and STORED_NAME.fullmatch(second)
    assert not [path for path in server.folder.rglob("*evil*")]


# Refused files.

REFUSED = [
    pytest.param(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "image/svg+xml",
        r"not (a|an) .*PNG",
        id="svg",
    ),
    pytest.param(b"<!doctype html><script>alert(1)</script>", "text/html", r"not (a|an) .*PNG", id="html"),
    pytest.param(b"just some text\n", "image/png", r"not (a|an) .*PNG", id="text"),
    pytest.param(b"\x7fELF\x02\x01\x01\x00" + bytes(300), "image/png", r"not (a|an) .*PNG", id="elf"),
    pytest.param(
        b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 20,
        "image/png",
        r"not (a|an) .*PNG|corrupt|truncated",
        id="png-signature-on-html",
    ),
    pytest.param(
        picture("PNG")[:33] + b"\x7fELF" + bytes(300),
        "image/png",
        r"not (a|an) .*PNG|corrupt|truncated",
        id="png-header-on-elf",
    ),
    pytest.param(truncated(picture("PNG", (60, 60))), "image/png", r"truncated|corrupt", id="truncated-png"),
    pytest.param(
        truncated(picture("JPEG", (60, 60))), "image/jpeg", r"truncated|corrupt", id="truncated-jpeg"
    ),
    pytest.param(corrupt_png(), "image/png", r"truncated|corrupt", id="corrupt-png"),
    pytest.param(picture("PNG", (200, 200)), "image/png", r"pixels", id="too-many-pixels"),
    pytest.param(
        png_of_size(MAX_UPLOAD_SIZE + 1), "image/png", r"larger|too (large|big)", id="one-byte-over"
    ),
    pytest.param(png_of_size(60_000), "image/png", r"larger|too (large|big)", id="60000-bytes"),
    pytest.param(b"", "image/png", r"empty", id="empty"),
]


@pytest.mark.parametrize(("data", "content_type", "reason"), REFUSED)
def test_refused_files_are_bad_user_input_saying_why_and_store_nothing(server, data, content_type, reason):
    token = server.new_account()
    before = stored_files(server)

    message = refused(upload(server, token, data, "photo.png", content_type, firstName="Changed"))

    assert re.search(reason, message, re.IGNORECASE), message
    assert stored_files(server) == before
    profile = me(server, token)
    assert profile["profilePicture"] is None and profile["firstName"] == ""


def test_the_old_services_update_operation_can_carry_a_picture(server):
    token = server.new_account()
    changes = {"firstName": "Nikta", "gender": "Female"}

    response = upload(
        server, token, picture("JPEG"), "me.jpg", "image/jpeg", query=LEGACY["UpdateUserProfile"], **changes
    )

    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    user = body["data"]["updateUser"]["user"]
    assert STORED_NAME.fullmatch(user["profilePicture"]) and user["profilePicture"].endswith(".jpg")
    assert (user["firstName"], user["gender"]) == ("Nikta", "FEMALE")
    assert (upload_folder(server) / user["profilePicture"]).is_file()


def test_a_file_of_exactly_max_upload_size_is_accepted(server):
    data = png_of_size(MAX_UPLOAD_SIZE)

    user = uploaded(server, server.new_account(), data)

    assert STORED_NAME.fullmatch(user["profilePicture"])


def test_an_image_of_exactly_max_image_pixels_is_accepted(server):
    user = uploaded(server, server.new_account(), picture("PNG", (100, 100)))

    assert STORED_NAME.fullmatch(user["profilePicture"])


# Re-encoding: upright, without metadata.


def test_a_sideways_jpeg_is_stored_upright(server):
    user = uploaded(
        server, server.new_account(), sideways_jpeg(), filename="s.jpg", content_type="image/jpeg"
    )

    image = Image.open(io.BytesIO(fetch(user["profilePictureUrl"]).content)).convert("RGB")

    assert image.size == (20, 40)
    top, bottom = image.getpixel((10, 8)), image.getpixel((10, 32))
    assert top[0] > 150 and top[2] < 100, top  # the left (red) half is now on top
    assert bottom[2] > 150 and bottom[0] < 100, bottom
    assert not image.getexif()


def test_jpeg_exif_with_gps_is_not_stored(server):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)

    user = uploaded(server, server.new_account(), original, filename="g.jpg", content_type="image/jpeg")
    served = fetch(user["profilePictureUrl"]).content

    assert served == (upload_folder(server) / user["profilePicture"]).read_bytes()
    assert len(Image.open(io.BytesIO(served)).getexif()) == 0
    assert b"Exif" not in served
    assert b"SpyCam" not in served


def test_png_text_and_exif_chunks_are_not_stored(server):
    original = png_with_text_and_exif()
    assert b"GPS 35.6892N" in original and b"eXIf" in original

    user = uploaded(server, server.new_account(), original)
    served = fetch(user["profilePictureUrl"]).content

    assert b"GPS 35.6892N" not in served and b"SpyCam" not in served
    assert b"tEXt" not in served and b"eXIf" not in served
    assert len(Image.open(io.BytesIO(served)).getexif()) == 0


# Replacing and removing.


def test_replacing_the_picture_deletes_the_old_file(server):
    token = server.new_account()
    old = uploaded(server, token, picture("PNG"))

    new = uploaded(server, token, picture("JPEG"), filename="n.jpg", content_type="image/jpeg")

    assert new["profilePicture"] != old["profilePicture"]
    assert not (upload_folder(server) / old["profilePicture"]).exists()
    assert fetch(old["profilePictureUrl"]).status_code == 404
    assert fetch(new["profilePictureUrl"]).status_code == 200


@pytest.mark.parametrize(
    ("bad_file", "changes", "field"),
    [
        (b"<svg/>", {}, "profilePicture"),
        (picture("PNG", (200, 200)), {}, "profilePicture"),
        (None, {"email": "TAKEN@example.com"}, "email"),
        (None, {"gender": "unknown"}, "gender"),
    ],
    ids=["bad-file", "too-many-pixels", "email-taken", "bad-gender"],
)
def test_a_failed_replace_keeps_the_old_picture_and_leaves_no_stray_file(server, bad_file, changes, field):
    if "email" in changes:
        taker = server.new_account()
        assert update(server, taker, email="taken@example.com")["data"]["updateUser"]["ok"] is True
    token = server.new_account()
    old = uploaded(server, token, picture("PNG"))
    before = stored_files(server)

    response = upload(server, token, bad_file or picture("WEBP"), firstName="Changed", **changes)

    refused(response, field)
    assert stored_files(server) == before
    assert me(server, token) == old
    served = fetch(old["profilePictureUrl"])
    assert served.status_code == 200
    assert served.content == (upload_folder(server) / old["profilePicture"]).read_bytes()


def test_a_null_picture_changes_nothing(server):
    token = server.new_account()
    old = uploaded(server, token, picture("PNG"))

    body = update(server, token, profilePicture=None, firstName="Ali")

    assert body["data"]["updateUser"]["user"] == {**old, "firstName": "Ali"}
    assert (upload_folder(server) / old["profilePicture"]).is_file()
    assert fetch(old["profilePictureUrl"]).status_code == 200


def test_removing_the_picture_deletes_its_file(server):
    token = server.new_account()
    old = uploaded(server, token, picture("GIF"))

    user = update(server, token, removeProfilePicture=True)["data"]["updateUser"]["user"]

    assert user["profilePicture"] is None and user["profilePictureUrl"] is None
    assert me(server, token)["profilePicture"] is None
    assert not (upload_folder(server) / old["profilePicture"]).exists()
    assert fetch(old["profilePictureUrl"]).status_code == 404


def test_an_anonymous_upload_is_unauthenticated_and_stores_nothing(server):
    before = stored_files(server)

    body = upload(server, None, picture("PNG")).json()

    assert body["data"] == {"updateUser": None}
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert stored_files(server) == before


# Serving only what was stored.


HEX_NAME = "0123456789abcdef" * 2
# Files in the upload folder that the service did not store as pictures, with their contents.
PLANTED = {
    "notes.txt": "notes",
    "profile_pics/notes.txt": "notes",
    f"profile_pics/{HEX_NAME}.svg": "<svg/>",
    f"profile_pics/{HEX_NAME.upper()}.png": "png?",
    f"profile_pics/.{HEX_NAME}.png.part": "partial",
    f"profile_pics/{HEX_NAME}.png.bak": "backup",
}


@pytest.fixture(scope="module")
def planted(server: Server) -> None:
    """The planted files, plus files next to the upload folder that must never be served."""
    folder = upload_folder(server)
    (folder / "profile_pics").mkdir(parents=True, exist_ok=True)
    for relative, content in PLANTED.items():
        (folder / relative).write_text(content)
    (server.folder / "outside.txt").write_text(OUTSIDE_MARKER)
    instance = server.folder / "instance"
    instance.mkdir(exist_ok=True)
    (instance / "secret_key").write_text(OUTSIDE_MARKER)


@pytest.mark.parametrize(
    "relative", [*PLANTED, f"profile_pics/{'f' * 32}.png", "profile_pics", "profile_pics/", ""]
)
def test_only_stored_pictures_are_served_anything_else_or_missing_is_404(server, planted, relative):
    response = fetch(f"{server.url}/uploads/{relative}")

    assert response.status_code == 404, relative
    assert PLANTED.get(relative, "never-planted") not in response.text


TRAVERSALS = [
    "/uploads/../outside.txt",
    "/uploads/%2e%2e/outside.txt",
    "/uploads/%2E%2E/outside.txt",
    "/uploads/..%2foutside.txt",
    "/uploads/%2e%2e%2foutside.txt",
    "/uploads/profile_pics/../../outside.txt",
    "/uploads/profile_pics/%2e%2e/%2e%2e/outside.txt",
    "/uploads/profile_pics/../../instance/secret_key",
    "/uploads/profile_pics/..%2f..%2finstance%2fsecret_key",
    "/uploads/..\\outside.txt",
    "/uploads/%5c..%5coutside.txt",
    "/uploads/profile_pics/../notes.txt",
]
# Absolute paths: never served, and never redirected (Werkzeug merges slashes unless told not to).
ABSOLUTE_PATHS = ["/uploads//etc/passwd", "/uploads/%2fetc%2fpasswd"]


@pytest.mark.parametrize("path", [*TRAVERSALS, *ABSOLUTE_PATHS])
def test_path_traversal_attempts_are_404(server, planted, path):
    status, _, body = raw_get(server, path)

    assert status == 404, (status, body[:200])
    assert OUTSIDE_MARKER.encode() not in body and b"root:" not in body


@pytest.mark.parametrize("path", [*TRAVERSALS, "/uploads//etc/passwd", "/uploads/%2fetc%2fpasswd"])
def test_path_traversal_attempts_never_serve_a_file_even_after_redirects(server, planted, path):
    for _ in range(5):
        status, headers, body = raw_get(server, path)
        assert OUTSIDE_MARKER.encode() not in body and b"root:" not in body
        if status not in (301, 302, 303, 307, 308):
            break
        path = headers["Location"].removeprefix(server.url)
    assert status == 404


# Broken multipart requests.


def multipart_fields(**fields: Any) -> list[tuple[str, tuple[str | None, Any]]]:
    return [(name, (None, value)) for name, value in fields.items()]


OPERATIONS = json.dumps({"query": UPDATE_USER, "variables": {"input": {"profilePicture": None}}})
PICTURE_MAP = json.dumps({"0": [PICTURE_PATH]})
A_FILE = ("photo.png", picture("PNG"), "image/png")

BROKEN_MULTIPART = [
    pytest.param({"operations": "{not json", "map": PICTURE_MAP}, {"0": A_FILE}, id="operations-not-json"),
    pytest.param({"operations": OPERATIONS, "map": "{not json"}, {"0": A_FILE}, id="map-not-json"),
    pytest.param({"operations": OPERATIONS, "map": PICTURE_MAP}, {}, id="map-names-a-missing-file"),
    pytest.param(
        {"operations": OPERATIONS, "map": json.dumps({"0": [PICTURE_PATH], "1": [PICTURE_PATH]})},
        {"0": A_FILE},
        id="map-names-a-second-missing-file",
    ),
    pytest.param(
        {"operations": OPERATIONS, "map": json.dumps({"0": ["variables.input.avatar"]})},
        {"0": A_FILE},
        id="map-path-not-in-variables",
    ),
    pytest.param(
        {"operations": OPERATIONS, "map": json.dumps({"0": ["variables.nothing.here"]})},
        {"0": A_FILE},
        id="map-path-through-missing-variable",
    ),
    pytest.param(
        {
            "operations": json.dumps({"query": UPDATE_USER, "variables": {"input": {"firstName": "Ali"}}}),
            "map": json.dumps({"0": ["variables.input.firstName"]}),
        },
        {"0": A_FILE},
        id="map-path-to-a-non-null-variable",
    ),
    pytest.param(
        {"operations": OPERATIONS, "map": json.dumps({"0": ["query"]})}, {"0": A_FILE}, id="map-path-query"
    ),
    pytest.param(
        {"operations": OPERATIONS, "map": json.dumps({"0": PICTURE_PATH})}, {"0": A_FILE}, id="map-not-lists"
    ),
    pytest.param({"operations": OPERATIONS, "map": "[]"}, {"0": A_FILE}, id="map-a-list"),
    pytest.param({"operations": OPERATIONS, "map": "{}"}, {"0": A_FILE}, id="file-not-in-map"),
    pytest.param(
        {"operations": OPERATIONS, "map": PICTURE_MAP}, {"0": A_FILE, "1": A_FILE}, id="extra-file-not-in-map"
    ),
    pytest.param({"map": PICTURE_MAP}, {"0": A_FILE}, id="no-operations"),
    pytest.param({"operations": OPERATIONS}, {"0": A_FILE}, id="no-map"),
    pytest.param(
        {"operations": f"[{OPERATIONS}]", "map": PICTURE_MAP}, {"0": A_FILE}, id="batched-operations"
    ),
    pytest.param({"operations": '"a string"', "map": PICTURE_MAP}, {"0": A_FILE}, id="operations-a-string"),
]


@pytest.mark.parametrize(("fields", "files"), BROKEN_MULTIPART)
def test_broken_multipart_requests_are_400_json_and_store_nothing(server, fields, files):
    token = server.new_account()
    before = stored_files(server)

    response = requests.post(
        server.graphql_url,
        files=[*multipart_fields(**fields), *files.items()],
        headers={"Authorization": f"JWT {token}"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert stored_files(server) == before
    assert me(server, token)["profilePicture"] is None
    assert "Traceback" not in server.log_text()


# A body over the limit.


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=limit", "application/json"])
def test_a_body_over_the_limit_is_refused_with_413_without_reading_it(server, content_type):
    host, port = server.url.removeprefix("http://").split(":")
    claimed = 50 * 1024 * 1024
    assert claimed > BODY_LIMIT
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {claimed}\r\nApollo-Require-Preflight: true\r\nConnection: close\r\n\r\n"
    )
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head.encode() + b"--limit\r\n" + b"x" * 1000)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    elapsed = time.monotonic() - started

    assert elapsed < 5
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers.lower()
    assert json.loads(body)["errors"][0]["message"]


def chunked_post(
    server: Server, body: bytes, chunk_size: int = 4096, content_type: str = "application/json"
) -> tuple[int, bytes]:
    """POST ``body`` to /graphql with ``Transfer-Encoding: chunked`` (no Content-Length); status and body."""
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        "Apollo-Require-Preflight: true\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk_size]), body[i : i + chunk_size])
        for i in range(0, len(body), chunk_size)
    )
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as connection:
        with contextlib.suppress(OSError):  # the server may answer and close before the whole body is sent
            connection.sendall(head.encode() + chunks + b"0\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_a_chunked_body_without_a_length_is_read_whole(server):
    """Bodies of known length are read straight from gunicorn's stream; chunked ones still work."""
    padding = "x" * 20_000  # several chunks
    operation = {"query": "{ __typename }", "operationName": None, "extensions": {"p": padding}}
    body = json.dumps(operation)

    status, answer = chunked_post(server, body.encode())

    assert status == 200, answer[:300]
    assert json.loads(answer) == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=limit", "application/json"])
def test_a_chunked_body_over_the_limit_is_refused_with_413(server, content_type):
    """Without Content-Length, the limit is enforced while reading: no body reaches a resolver."""
    padding = "x" * (BODY_LIMIT + 1024)
    if content_type == "application/json":
        body = json.dumps({"query": "{ __typename }", "extensions": {"p": padding}}).encode()
    else:
        body = (
            '--limit\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
            f'{{"query": "{{ __typename }}", "variables": {{}}, "extensions": {{"p": "{padding}"}}}}\r\n'
            "--limit--\r\n"
        ).encode()
    before = stored_files(server)

    status, answer = chunked_post(server, body, chunk_size=256 * 1024, content_type=content_type)

    assert status == 413, answer[:300]
    assert json.loads(answer)["errors"][0]["message"]
    assert stored_files(server) == before
    assert "Traceback" not in server.log_text()
