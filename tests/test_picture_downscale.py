"""Profile pictures are stored downscaled to PROFILE_PICTURE_MAX_SIDE on the long side, with the
default limits (16-megapixel pictures in files of up to 5 MiB), sent as real multipart requests."""

import io
from pathlib import Path
from typing import Any

import pytest
from conftest import GraphQL, make_app, send_picture
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

UPDATE_USER = """
mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { ok user { profilePicture } } }
"""
RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def encoded(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def halves(size: tuple[int, int], first: tuple[int, int, int], second: tuple[int, int, int]) -> Image.Image:
    """Left half ``first``, right half ``second``."""
    image = Image.new("RGB", size, second)
    image.paste(first, (0, 0, size[0] // 2, size[1]))
    return image


def upload(client: FlaskClient, token: str, data: bytes) -> dict:
    """``updateUser`` with ``data`` as the picture, in a multipart request; the whole answer."""
    response = send_picture(
        client, UPDATE_USER, data, token=token, filename="picture", mimetype="application/octet-stream"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def stored(app: Flask, client: FlaskClient, data: bytes, username: str = "ali") -> Image.Image:
    """The picture as stored on disk after an upload that must succeed."""
    token = GraphQL(client).register(username)["token"]
    body = upload(client, token, data)
    assert "errors" not in body, body["errors"]
    relative = body["data"]["updateUser"]["user"]["profilePicture"]
    image = Image.open(Path(app.config["UPLOAD_FOLDER"]) / relative)
    image.load()
    return image


def picture_files(app: Flask) -> list[Path]:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "profile_pics"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_the_defaults_are_1024_pixels_and_16_megapixels(app):
    assert app.config["PROFILE_PICTURE_MAX_SIDE"] == 1024
    assert app.config["MAX_IMAGE_PIXELS"] == 16_000_000


def test_a_4000x3000_jpeg_is_stored_at_1024x768_without_its_metadata(app, client):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif.get_ifd(0x8825).update({1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (51.0, 23.0, 0.0)})
    data = encoded(halves((4000, 3000), RED, BLUE), "JPEG", quality=90, exif=exif)

    image = stored(app, client, data)

    assert (image.format, image.size) == ("JPEG", (1024, 768))
    assert not image.getexif()
    left, right = image.getpixel((256, 384)), image.getpixel((768, 384))
    assert left[0] > 180 and left[2] < 60, left
    assert right[2] > 180 and right[0] < 60, right


@pytest.mark.parametrize(
    ("image_format", "size", "mode"),
    [
        ("PNG", (3000, 1000), "RGB"),
        ("PNG", (1500, 2600), "RGBA"),
        ("PNG", (2049, 2049), "P"),
        ("WEBP", (900, 2000), "RGB"),
        ("GIF", (1600, 1200), "P"),
        ("JPEG", (1025, 1024), "RGB"),
        ("JPEG", (2000, 4000), "CMYK"),
    ],
    ids=["png-wide", "png-rgba-tall", "png-palette-square", "webp-tall", "gif", "jpeg-one-over", "jpeg-cmyk"],
)
def test_a_big_picture_is_stored_at_most_1024_on_its_long_side_with_its_aspect_ratio(
    app, client, image_format, size, mode
):
    image = stored(app, client, encoded(Image.new(mode, size, "green" if mode != "P" else 3), image_format))

    width, height = image.size
    assert image.format == image_format
    assert max(width, height) == 1024
    # The short side is the original's proportion, rounded to a whole pixel.
    assert abs(min(width, height) - 1024 * min(size) / max(size)) <= 1, image.size
    assert (width >= height) == (size[0] >= size[1])


@pytest.mark.parametrize("size", [(300, 200), (1024, 1024), (1024, 17), (1, 1)])
def test_a_picture_within_the_limit_keeps_its_size(app, client, size):
    image = stored(app, client, encoded(Image.new("RGB", size, "navy"), "PNG"))

    assert image.size == size


def test_a_sideways_photo_is_downscaled_and_turned_upright(app, client):
    """4000x2000 stored pixels, red left and blue right, with EXIF orientation 6 (turn 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encoded(halves((4000, 2000), RED, BLUE), "JPEG", quality=90, exif=exif)

    image = stored(app, client, data).convert("RGB")

    assert image.size == (512, 1024)
    top, bottom = image.getpixel((256, 200)), image.getpixel((256, 824))
    assert top[0] > 180 and top[2] < 60, top  # the left (red) half is now on top
    assert bottom[2] > 180 and bottom[0] < 60, bottom
    assert not image.getexif()


def test_a_big_animated_gif_keeps_its_first_frame(app, client):
    frames = [Image.new("RGB", (2000, 1500), colour).quantize(4) for colour in (GREEN, RED, BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    image = stored(app, client, buffer.getvalue())

    assert image.size == (1024, 768)
    assert getattr(image, "n_frames", 1) == 1
    pixel = image.convert("RGB").getpixel((500, 400))
    assert pixel[1] > 150 and pixel[0] < 80 and pixel[2] < 80, pixel


def test_transparency_survives_the_downscale(app, client):
    image = Image.new("RGBA", (2048, 1024), (0, 0, 0, 0))
    image.paste((200, 10, 10, 255), (1024, 0, 2048, 1024))

    stored_image = stored(app, client, encoded(image, "PNG"))

    assert stored_image.mode == "RGBA" and stored_image.size == (1024, 512)
    assert stored_image.getpixel((100, 256))[3] == 0
    assert stored_image.getpixel((900, 256)) == (200, 10, 10, 255)


def test_a_picture_of_exactly_16_megapixels_is_accepted(app, client):
    image = stored(app, client, encoded(Image.new("L", (4000, 4000), 128), "PNG"))

    assert image.size == (1024, 1024)


def test_a_picture_over_16_megapixels_is_refused_by_default_and_nothing_is_stored(app, client):
    token = GraphQL(client).register("ali")["token"]
    data = encoded(Image.new("L", (4001, 4000), 128), "PNG")
    assert len(data) < app.config["MAX_UPLOAD_SIZE"]
    before = picture_files(app)

    body = upload(client, token, data)

    assert body["data"] == {"updateUser": None}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "4001x4000" in error["extensions"]["fields"]["profilePicture"][0]
    assert picture_files(app) == before


def test_profile_picture_max_side_sets_the_stored_size(tmp_path):
    app = make_app(tmp_path, PROFILE_PICTURE_MAX_SIDE=100)

    image = stored(app, app.test_client(), encoded(Image.new("RGB", (400, 300), "olive"), "WEBP"))

    assert (image.format, image.size) == ("WEBP", (100, 75))
