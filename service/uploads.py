"""Profile pictures: checked and re-encoded with Pillow, stored under random names, served by Flask."""

import os
import re
import secrets
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, Response, current_app, send_from_directory
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.exceptions import NotFound

from .errors import BadUserInput

PICTURE_FOLDER = "profile_pics"
# What the service accepts, told from the content, and the extension it writes for each.
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
STORED_NAME = re.compile(rf"{PICTURE_FOLDER}/[0-9a-f]{{32}}\.(?:{'|'.join(EXTENSIONS.values())})")
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

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "UploadSettings":
        return cls(
            folder=Path(config["UPLOAD_FOLDER"]).resolve(),
            max_bytes=config["MAX_UPLOAD_SIZE"],
            max_pixels=config["MAX_IMAGE_PIXELS"],
        )


def picture_problem(message: str) -> BadUserInput:
    return BadUserInput({"profilePicture": [message]})


def read_limited(stream: IO[bytes], max_bytes: int) -> bytes:
    """The whole upload, refused as soon as it passes ``max_bytes``."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise picture_problem(f"The file is larger than the limit of {max_bytes // 1024} KiB.")
    if not data:
        raise picture_problem("The file is empty.")
    return data


def clean_image(data: bytes, max_pixels: int) -> tuple[Image.Image, str]:
    """The picture, upright and stripped of all metadata, with the format it came in.

    The format is told from the bytes alone; truncated or corrupt files,
    other formats and images over ``max_pixels`` are refused.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data), formats=list(EXTENSIONS)) as probe:
                image_format = probe.format
                width, height = probe.size
                if width * height > max_pixels:
                    raise picture_problem(
                        f"The image is {width}x{height} pixels; at most {max_pixels:,} pixels are allowed."
                    )
                probe.verify()
            with Image.open(BytesIO(data), formats=[image_format]) as image:
                image.seek(0)  # animated images keep their first frame
                image.load()
                clean = _without_metadata(ImageOps.exif_transpose(image), image_format)
    except UnidentifiedImageError:
        raise picture_problem("The file is not a PNG, JPEG, WebP or GIF image.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise picture_problem(f"The image has more than {max_pixels:,} pixels.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise picture_problem("The image is truncated or corrupt.") from None
    return clean, image_format


def _without_metadata(image: Image.Image, image_format: str) -> Image.Image:
    """A new image holding only the pixels: no EXIF (GPS), ICC, XMP or comments survive."""
    mode = (
        "RGB"
        if image_format == "JPEG"
        else ("RGBA" if image.mode not in ("RGB", "RGBA", "L") else image.mode)
    )
    pixels = image.convert(mode)
    return Image.frombytes(mode, pixels.size, pixels.tobytes())


def store_picture(upload: IO[bytes], settings: UploadSettings) -> str:
    """Check, re-encode and write an uploaded picture; return its path relative to the upload folder."""
    image, image_format = clean_image(read_limited(upload, settings.max_bytes), settings.max_pixels)
    relative = f"{PICTURE_FOLDER}/{secrets.token_hex(16)}.{EXTENSIONS[image_format]}"
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
