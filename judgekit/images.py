"""Turn user images (paths, PIL images, bytes, URLs, data URLs) into provider image blocks."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit.errors import ConfigError

__all__ = ["ImageData", "load_image", "to_anthropic_block", "to_openai_part"]

_KEEP_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImageData:
    """One image ready to send: base64 ``data`` with its ``media_type``, or a remote ``url``."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None

    @property
    def data_url(self) -> str:
        return self.url if self.url is not None else f"data:{self.media_type};base64,{self.data}"


def load_image(image: Any, *, max_side: int | None = None, field: str = "images[0]") -> ImageData:
    """Read one image. http(s) URLs are passed on as URLs; everything else is base64-encoded; an
    `ImageData` (already read) is returned as it is.

    With ``max_side``, images larger than that on their longest side are downscaled (aspect kept).
    An unreadable image raises `ConfigError` naming it (``field``).
    """
    from PIL import Image

    if isinstance(image, ImageData):
        return image
    if isinstance(image, Image.Image):
        return _encode(image, None, max_side)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(image), max_side, field, "bytes")
    if isinstance(image, (Path, str)):
        text = str(image)
        if text.startswith(("http://", "https://")):
            return ImageData(url=text)
        if text.startswith("data:"):
            return _from_bytes(_decode_data_url(text, field), max_side, field, "data URL")
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"{field}: image file not found: {text!r}", field=field)
        return _from_bytes(path.read_bytes(), max_side, field, repr(text))
    raise ConfigError(
        f"{field}: unsupported image type {type(image).__name__}; "
        "use a path, PIL.Image, bytes, an http(s) URL or a data URL",
        field=field,
    )


def _decode_data_url(text: str, field: str) -> bytes:
    header, sep, payload = text.partition(",")
    if not sep or ";base64" not in header:
        raise ConfigError(f"{field}: data URL must be base64-encoded ('data:image/png;base64,...')", field=field)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{field}: data URL holds invalid base64", field=field) from None


def _from_bytes(raw: bytes, max_side: int | None, field: str, what: str) -> ImageData:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ConfigError(f"{field}: cannot read image from {what}: {exc}", field=field) from None
    return _encode(img, raw, max_side)


def _encode(img: Any, raw: bytes | None, max_side: int | None) -> ImageData:
    fmt = (img.format or "").upper()
    too_big = max_side is not None and max(img.size) > max_side
    if raw is not None and fmt in _KEEP_FORMATS and not too_big:
        return ImageData(media_type=_KEEP_FORMATS[fmt], data=base64.b64encode(raw).decode("ascii"))
    if too_big:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    out_fmt = "JPEG" if fmt == "JPEG" and img.mode in ("RGB", "L") else "PNG"
    if out_fmt == "PNG" and img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        img = img.convert("RGBA")
    buf = io.BytesIO()
    img.save(buf, format=out_fmt)
    return ImageData(media_type=_KEEP_FORMATS[out_fmt], data=base64.b64encode(buf.getvalue()).decode("ascii"))


def to_openai_part(image: ImageData) -> dict[str, Any]:
    """An OpenAI chat ``image_url`` content part."""
    return {"type": "image_url", "image_url": {"url": image.data_url}}


def to_anthropic_block(image: ImageData) -> dict[str, Any]:
    """An Anthropic ``image`` content block (base64 or url source)."""
    if image.url is not None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.data}}
