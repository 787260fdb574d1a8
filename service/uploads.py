"""Profile pictures: checked and re-encoded with Pillow, stored under random names, served by Flask."""

import os
import re
import secrets
import stat
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, send_from_directory
from PIL import ExifTags, Image, UnidentifiedImageError
from werkzeug.exceptions import NotFound

from .errors import BadUserInput
from .extensions import db
from .models import User

PICTURE_FOLDER = "profile_pics"
# What the service accepts, told from the content, and the extension it writes for each.
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
STORED_NAME = re.compile(rf"{PICTURE_FOLDER}/[0-9a-f]{{32}}\.(?:{'|'.join(EXTENSIONS.values())})")
# The temporary file a picture is written to before it is renamed into place.
TEMPORARY_NAME = re.compile(rf"\.[0-9a-f]{{32}}\.(?:{'|'.join(EXTENSIONS.values())})\.part")
PRUNE_BATCH = 500
SAVE_OPTIONS = {"JPEG": {"quality": 90}, "WEBP": {"quality": 90}}
CACHE_SECONDS = 365 * 24 * 3600
FILE_MODE = 0o644

bp = Blueprint("uploads", __name__)


@dataclass(frozen=True)
class UploadSettings:
    """Where pictures go and how big they may be, fixed when the app is created."""

    folder: Path
    max_bytes: int
    max_pixels: int
    max_side: int = 1024

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "UploadSettings":
        return cls(
            folder=Path(config["UPLOAD_FOLDER"]).resolve(),
            max_bytes=config["MAX_UPLOAD_SIZE"],
            max_pixels=config["MAX_IMAGE_PIXELS"],
            max_side=config["PROFILE_PICTURE_MAX_SIDE"],
        )


def picture_problem(message: str) -> BadUserInput:
    return BadUserInput({"profilePicture": [message]})


def read_limited(stream: IO[bytes], max_bytes: int) -> bytes:
    """The whole upload, refused as soon as it passes ``max_bytes``."""
    return _within_limit(stream.read(max_bytes + 1), max_bytes)


def _within_limit(data: bytes, max_bytes: int) -> bytes:
    """``data``, unless it is empty or over ``max_bytes`` (refused as a picture problem)."""
    if len(data) > max_bytes:
        raise picture_problem(f"The file is larger than the limit of {max_bytes // 1024} KiB.")
    if not data:
        raise picture_problem("The file is empty.")
    return data


def clean_image(data: bytes, max_pixels: int, max_side: int) -> tuple[Image.Image, str]:
    """The picture, upright, at most ``max_side`` pixels on its long side, without any metadata.

    Also the format it came in, told from the bytes alone. Truncated or corrupt
    files, other formats and images over ``max_pixels`` are refused; the last
    from the header, before anything is decoded. The full-size picture is
    decoded once (a JPEG at the smallest scale libjpeg can give that is not
    below the target) and never copied at full size.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data), formats=list(EXTENSIONS)) as image:
                image_format = image.format
                width, height = image.size
                if width * height > max_pixels:
                    raise picture_problem(
                        f"The image is {width}x{height} pixels; at most {max_pixels:,} pixels are allowed."
                    )
                target = _fitted_size(image.size, max_side)
                image.seek(0)  # animated images keep their first frame
                if image_format == "JPEG":
                    image.draft(None, target)
                # load() decodes every pixel of the first frame; with LOAD_TRUNCATED_IMAGES
                # off it fails on truncated data, and zlib's and libjpeg's checks on corrupt data.
                image.load()
                orientation = image.getexif().get(ExifTags.Base.Orientation)
                small = _downscaled(image, target, _stored_mode(image, image_format))
                if orientation in ORIENTATION_TRANSPOSES:
                    small = small.transpose(ORIENTATION_TRANSPOSES[orientation])
                # A new image holding only the pixels: no EXIF (GPS), ICC, XMP or comments survive.
                clean = Image.new(small.mode, small.size)
                clean.paste(small)
    except UnidentifiedImageError:
        raise picture_problem("The file is not a PNG, JPEG, WebP or GIF image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise picture_problem(f"The image has more than {max_pixels:,} pixels.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise picture_problem("The image is truncated or corrupt.") from None
    return clean, image_format


# EXIF orientation -> the transposition that turns the picture upright (as ImageOps.exif_transpose).
ORIENTATION_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Rows converted at a time when a picture changes mode on the way down.
STRIP_ROWS = 256


def _fitted_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled down, aspect ratio kept, so that its long side is at most ``max_side``."""
    width, height = size
    scale = max_side / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def _stored_mode(image: Image.Image, image_format: str) -> str:
    if image_format == "JPEG":
        return "RGB"
    return image.mode if image.mode in ("RGB", "RGBA", "L") else "RGBA"


def _downscaled(image: Image.Image, target: tuple[int, int], mode: str) -> Image.Image:
    """``image`` in ``mode`` at ``target`` size, without a full-size copy.

    It is first shrunk by the largest whole factor that stays at or above the
    target (box averaging, converted a strip of rows at a time), then resized
    with Lanczos to the exact size.
    """
    width, height = image.size
    factor = max(1, min(width // target[0], height // target[1]))
    if factor == 1 and image.mode == mode:
        reduced = image
    else:
        reduced = Image.new(mode, (-(-width // factor), -(-height // factor)))
        rows = factor * max(1, STRIP_ROWS // factor)
        for top in range(0, height, rows):
            strip = image.crop((0, top, width, min(top + rows, height)))
            if strip.mode != mode:
                strip = strip.convert(mode)
            reduced.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    if reduced.size != target:
        reduced = reduced.resize(target, Image.Resampling.LANCZOS)
    return reduced


def store_picture(upload: IO[bytes], settings: UploadSettings) -> str:
    """Check, re-encode and write an uploaded picture; return its path relative to the upload folder."""
    data = read_limited(upload, settings.max_bytes)
    image, image_format = clean_image(data, settings.max_pixels, settings.max_side)
    del data  # the upload's bytes are not needed while the picture is encoded
    return _save_picture(image, image_format, settings, secrets.token_hex(16))


def store_picture_bytes(data: bytes, settings: UploadSettings, stem: str) -> str:
    """Check and re-encode a picture's bytes as an upload's, and write it as ``<stem>.<ext>``
    (32 hex digits); return its path relative to the upload folder. Raises ``BadUserInput``."""
    image, image_format = clean_image(
        _within_limit(data, settings.max_bytes), settings.max_pixels, settings.max_side
    )
    return _save_picture(image, image_format, settings, stem)


def _save_picture(image: Image.Image, image_format: str, settings: UploadSettings, stem: str) -> str:
    relative = f"{PICTURE_FOLDER}/{stem}.{EXTENSIONS[image_format]}"
    target = settings.folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    try:
        image.save(temporary, format=image_format, **SAVE_OPTIONS.get(image_format, {}))
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return relative


def delete_picture(folder: Path, relative: str | None) -> None:
    """Remove a stored picture's file, if it is one of ours and still there."""
    if relative and STORED_NAME.fullmatch(relative):
        (folder / relative).unlink(missing_ok=True)


def prune_unreferenced_pictures(folder: Path, older_than: int, *, dry_run: bool = False) -> list[str]:
    """Delete the files in the upload folder that no account references, written at least
    ``older_than`` seconds ago; return their paths relative to the folder.

    The folder belongs to the service, so any file in it (in any subfolder) that
    no ``profile_picture`` names is garbage: a picture whose request failed or
    lost a race, a worker's leftover ``.part`` file, a stray copy. Dotfiles other
    than those temporary files (``.gitkeep``) are kept. Younger files are kept
    because an upload in flight has written its file but not yet committed its
    reference. ``dry_run`` only lists them.
    """
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than
    stale: dict[str, Path] = {}
    for entry in folder.rglob("*"):
        if entry.name.startswith(".") and not TEMPORARY_NAME.fullmatch(entry.name):
            continue
        try:
            status = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(status.st_mode) and status.st_mtime <= cutoff:
            stale[entry.relative_to(folder).as_posix()] = entry
    names = list(stale)
    for start in range(0, len(names), PRUNE_BATCH):
        batch = names[start : start + PRUNE_BATCH]
        query = sa.select(User.profile_picture).where(User.profile_picture.in_(batch))
        for referenced in db.session.scalars(query):
            stale.pop(referenced, None)
    if not dry_run:
        for entry in stale.values():
            entry.unlink(missing_ok=True)
    return sorted(stale)


@bp.get("/uploads/<path:filename>")
def serve_upload(filename: str) -> Response:
    """A stored picture. Only names the service writes are served, so no path can climb out."""
    if not STORED_NAME.fullmatch(filename):
        raise NotFound()
    folder = current_app.extensions["uploads"].folder
    response = send_from_directory(folder, filename, max_age=CACHE_SECONDS)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}, immutable"
    return response
