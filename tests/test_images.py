"""Image loading: every accepted form, downscaling, and errors that name the image."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from judgekit import ConfigError
from judgekit.images import load_image, to_anthropic_block, to_openai_part


def encoded(fmt: str = "PNG", size: tuple[int, int] = (8, 8), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format=fmt)
    return buf.getvalue()


def test_png_bytes_pass_through_unchanged() -> None:
    raw = encoded()
    image = load_image(raw)
    assert image.media_type == "image/png" and base64.b64decode(image.data or "") == raw


def test_jpeg_file_keeps_its_type(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(encoded("JPEG"))
    assert load_image(path).media_type == "image/jpeg"
    assert load_image(str(path)).media_type == "image/jpeg"


def test_other_formats_are_reencoded() -> None:
    image = load_image(encoded("BMP"))
    assert image.media_type == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(image.data or ""))).format == "PNG"


def test_pil_image_and_cmyk() -> None:
    assert load_image(Image.new("CMYK", (4, 4))).media_type == "image/png"


def test_url_is_passed_on() -> None:
    image = load_image("https://example.com/a.png", max_side=10)
    assert image.url == "https://example.com/a.png"
    assert to_openai_part(image)["image_url"]["url"] == image.url
    assert to_anthropic_block(image)["source"] == {"type": "url", "url": image.url}


def test_data_url_is_decoded_and_downscaled() -> None:
    url = "data:image/png;base64," + base64.b64encode(encoded(size=(300, 150))).decode()
    image = load_image(url, max_side=60)
    assert Image.open(io.BytesIO(base64.b64decode(image.data or ""))).size == (60, 30)
    block = to_anthropic_block(image)
    assert block["source"]["type"] == "base64" and block["source"]["media_type"] == "image/png"


@pytest.mark.parametrize(
    ("image", "match"),
    [
        ("/no/such/file.png", "not found"),
        (b"garbage", "cannot read image"),
        ("data:image/png;base64,@@@", "invalid base64"),
        ("data:image/png,rawtext", "base64"),
        (12345, "unsupported image type int"),
    ],
)
def test_errors_name_the_image(image: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        load_image(image, field="images[3]")
    assert "images[3]" in str(info.value) and info.value.field == "images[3]"
