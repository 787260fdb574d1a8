"""What one profile-picture upload costs a worker: peak memory and CPU for the largest allowed picture.

    .venv/bin/python benchmarks/upload_memory.py [--root PATH ...] [--side 1024]

Makes the largest pictures the default limits allow (MAX_IMAGE_PIXELS = 16,000,000 pixels, at
most MAX_UPLOAD_SIZE = 5 MiB): a 4608x3456 PNG and JPEG, and a 3456x4608 JPEG lying on its side
(EXIF orientation 6). For each, a fresh Python process builds the app of the checkout at
``--root`` (default: this one) on a temporary SQLite database, registers a user, sends one small
upload to warm up, then sends the big one as a multipart ``updateUser`` request with an
Authorization header, straight into the WSGI app as gunicorn would. The peak is the rise of the
process's resident set (VmHWM, reset through /proc/self/clear_refs just before the request) over
its size before the request: Pillow's C allocations included, which tracemalloc would not see.
"Decoded" is width x height x bands, the size of the picture as pixels.

Pass ``--root`` twice to compare two checkouts, e.g. an old one exported with
``git archive <commit> | tar -x -C /tmp/old``.
"""

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SIZE = (4608, 3456)  # 15,925,248 pixels: the largest 4:3 photo within 16,000,000
MAX_UPLOAD_SIZE = 5 * 1024 * 1024
UPDATE_USER = """
mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { ok user { profilePicture } } }
"""
CREATE_USER = "mutation Register($input: CreateUserInput!) { createUser(input: $input) { token } }"
PASSWORD = "correct horse battery staple 4711"
RESULT_MARK = "upload-memory-result: "


def photo_like(size: tuple[int, int], grain: bool) -> Image.Image:
    """Smooth colour gradients, with grain for a JPEG: not a flat colour, yet within 5 MiB."""
    ramp = Image.linear_gradient("L")
    channels = [ramp.rotate(90).resize(size), ramp.resize(size), Image.radial_gradient("L").resize(size)]
    if grain:
        noise = Image.effect_noise(size, 22)
        channels = [ImageChops.add(channel, noise, 2, -64) for channel in channels]
    return Image.merge("RGB", channels)


def make_pictures(folder: Path) -> list[tuple[str, Path]]:
    """The benchmark's pictures, written to ``folder``; each fits MAX_UPLOAD_SIZE."""
    pictures = []
    smooth = photo_like(SIZE, grain=False)
    for label, image, image_format, options in [
        ("PNG RGB", smooth, "PNG", {}),
        ("PNG RGBA", smooth.convert("RGBA"), "PNG", {}),
        ("GIF palette", smooth.quantize(64), "GIF", {}),
        ("JPEG", photo_like(SIZE, grain=True), "JPEG", {"quality": 85}),
    ]:
        path = folder / f"{label.replace(' ', '-')}.{image_format.lower()}"
        image.save(path, image_format, **options)
        pictures.append((f"{label} {SIZE[0]}x{SIZE[1]}", path))
    sideways = photo_like(SIZE, grain=True).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = folder / "sideways.jpg"
    sideways.save(path, "JPEG", quality=85, exif=exif)
    pictures.append((f"JPEG {SIZE[1]}x{SIZE[0]} EXIF 6", path))
    for _, path in pictures:
        assert path.stat().st_size <= MAX_UPLOAD_SIZE, (path, path.stat().st_size)
    return pictures


# The measuring child: one upload in a fresh process.


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _multipart_environ(picture: bytes, token: str):
    from werkzeug.test import EnvironBuilder

    operations = {"query": UPDATE_USER, "variables": {"input": {"profilePicture": None}}}
    builder = EnvironBuilder(
        path="/graphql",
        method="POST",
        headers={"Authorization": f"JWT {token}"},
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.profilePicture"]}),
            "0": (io.BytesIO(picture), "photo", "application/octet-stream"),
        },
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _call(app, environ) -> dict:
    status = []
    body = b"".join(app(environ, lambda code, headers, *_: status.append(code)))
    assert status[0].startswith("200"), (status, body[:500])
    answer = json.loads(body)
    assert "errors" not in answer, answer
    return answer["data"]["updateUser"]["user"]


def measure(root: Path, picture_path: Path, side: int) -> dict:
    """Runs in the child: build the app, warm up, then one upload, measured."""
    sys.path.insert(0, str(root))
    import flask_migrate

    from service import create_app

    folder = Path(tempfile.mkdtemp(prefix="upload-memory-"))
    app = create_app(
        {
            "SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghijklmnop",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "INSTANCE_PATH": str(folder / "instance"),
            "UPLOAD_FOLDER": str(folder / "uploads"),
            "PROFILE_PICTURE_MAX_SIDE": side,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
    variables = {"input": {"username": "uploader", "email": "uploader@example.com", "password": PASSWORD}}
    response = app.test_client().post("/graphql", json={"query": CREATE_USER, "variables": variables})
    token = response.get_json()["data"]["createUser"]["token"]
    warm_up = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(warm_up, "JPEG")
    _call(app, _multipart_environ(warm_up.getvalue(), token))

    picture = picture_path.read_bytes()
    with Image.open(io.BytesIO(picture)) as probe:
        width, height = probe.size
        decoded = width * height * len(probe.getbands())
    environ = _multipart_environ(picture, token)  # the request body, built before measuring
    del picture
    exact = _reset_peak()
    before = _status_kib("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    user = _call(app, environ)
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    peak = _status_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Image.open(folder / "uploads" / user["profilePicture"]) as stored:
        stored_size = stored.size
    shutil.rmtree(folder)
    return {
        "decoded": decoded,
        "growth": (peak - before) * 1024,
        "cpu": cpu,
        "wall": wall,
        "stored": f"{stored_size[0]}x{stored_size[1]}",
        "exact": exact,
    }


# The parent: pictures, one child per measurement, the table.


def run_child(root: Path, picture: Path, side: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(picture), "--root", str(root), "--side", str(side)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"the measurement failed:\n{result.stdout}\n{result.stderr}")
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    return json.loads(line.removeprefix(RESULT_MARK))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", action="append", type=Path, help="a checkout to measure (repeatable)")
    parser.add_argument("--side", type=int, default=1024, help="PROFILE_PICTURE_MAX_SIDE (default 1024)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    roots = [root.resolve() for root in arguments.root or [PROJECT_ROOT]]
    if arguments.child:
        print(RESULT_MARK + json.dumps(measure(roots[0], arguments.child, arguments.side)))
        return

    with tempfile.TemporaryDirectory(prefix="upload-memory-pictures-") as scratch:
        pictures = make_pictures(Path(scratch))
        rows = []
        for root in roots:
            for label, path in pictures:
                figures = run_child(root, path, arguments.side)
                rows.append((root, label, path.stat().st_size, figures))
    print("| code | picture | file | decoded (w x h x bands) | peak memory | peak / decoded | CPU | stored |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for root, label, file_size, figures in rows:
        print(
            f"| {root.name} | {label} | {file_size / 2**20:.1f} MiB | {figures['decoded'] / 2**20:.0f} MiB "
            f"| {figures['growth'] / 2**20:.0f} MiB | {figures['growth'] / figures['decoded']:.2f} "
            f"| {figures['cpu'] * 1000:.0f} ms | {figures['stored']} |"
        )
    if not all(figures["exact"] for *_, figures in rows):
        print("\n(/proc/self/clear_refs was not writable: peaks are ru_maxrss, an upper bound.)")


if __name__ == "__main__":
    main()
