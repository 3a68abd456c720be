"""Camera snapshots: check that bytes are a real JPEG/PNG of sane size, hash them, keep frames on disk.

Untrusted image bytes are sniffed by magic number, then opened by Pillow with its decompression-
bomb warning turned into an error and the pixel count checked against the source's own limit
*before* any pixel is decoded. Files are written atomically (temporary file + rename), so the
HTTP API never serves half a frame.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import imagehash
from PIL import Image, UnidentifiedImageError

from collectors.base import PayloadError
from collectors.timestamps import parse_jst
from geo.atomic_file import write_atomic

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_DATETIME = 0x0132
EXIF_IFD = 0x8769
THUMBNAIL_SIZE = (160, 120)


class NotAnImage(PayloadError):
    """The body is not a JPEG or PNG, or Pillow cannot read it."""


class DecompressionBomb(PayloadError):
    """The image declares more pixels than the source allows."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A checked snapshot: its bytes, format, size, pixel digest, perceptual hash, thumbnail and EXIF time."""

    body: bytes
    format: str  # "jpeg" | "png"
    width: int
    height: int
    digest: str  # SHA-256 of the decoded pixels: the same picture whatever its metadata or container says
    phash: imagehash.ImageHash
    thumbnail: bytes  # JPEG
    exif_time: datetime | None

    @property
    def extension(self) -> str:
        """File extension for the format."""
        return "jpg" if self.format == "jpeg" else "png"


def sniff(body: bytes) -> str:
    """'jpeg' or 'png' by magic number; NotAnImage otherwise."""
    if body.startswith(JPEG_MAGIC):
        return "jpeg"
    if body.startswith(PNG_MAGIC):
        return "png"
    raise NotAnImage(f"not a JPEG or PNG: starts with {body[:8]!r}")


def open_checked(body: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and check format and pixel count; raise NotAnImage or DecompressionBomb."""
    kind = sniff(body)
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; here any excess is an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(body), formats=["JPEG" if kind == "jpeg" else "PNG"])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DecompressionBomb(f"image rejected by the pixel limit: {exc}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise NotAnImage(f"unreadable {kind}: {exc}") from None
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise DecompressionBomb(f"image declares {width}x{height} pixels, over the limit of {max_pixels}")
    return image


def decode(body: bytes, max_pixels: int) -> Frame:
    """Verify, fully decode, hash and thumbnail an image (CPU work: run it in a thread)."""
    image = open_checked(body, max_pixels)
    kind = sniff(body)
    try:
        image.verify()  # structure and checksums; the image must be reopened after this
        image = open_checked(body, max_pixels)
        image.load()
        exif_time = _exif_time(image)
        rgb = image.convert("RGB")
        digest = hashlib.sha256(rgb.tobytes()).hexdigest()
        phash = imagehash.phash(rgb)
        thumb = rgb.copy()
        thumb.thumbnail(THUMBNAIL_SIZE)
        out = io.BytesIO()
        thumb.save(out, "JPEG", quality=80)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(f"corrupt {kind}: {exc}") from None
    return Frame(body, kind, image.width, image.height, digest, phash, out.getvalue(), exif_time)


def _exif_time(image: Image.Image) -> datetime | None:
    try:
        exif = image.getexif()
        value = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
        return parse_jst(value) if isinstance(value, str) else None
    except (ValueError, OSError, SyntaxError, KeyError, TypeError):
        return None  # a broken EXIF block is no reason to refuse the picture


class FrameStore:
    """One camera's directory: latest.<ext>, thumb.jpg and the previous N frames in frames/."""

    def __init__(self, directory: Path, keep_previous: int) -> None:
        self.directory = directory
        self.keep_previous = keep_previous

    @property
    def frames_dir(self) -> Path:
        """Where the previous frames are kept."""
        return self.directory / "frames"

    def save(self, frame: Frame, stamp: datetime) -> Path:
        """Store a new frame as the latest (keeping earlier ones up to N) and return its path."""
        name = f"{stamp.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}-{frame.phash}.{frame.extension}"
        write_atomic(self.frames_dir / name, frame.body)
        latest = self.directory / f"latest.{frame.extension}"
        write_atomic(latest, frame.body)
        write_atomic(self.directory / "thumb.jpg", frame.thumbnail)
        other = self.directory / ("latest.png" if frame.extension == "jpg" else "latest.jpg")
        other.unlink(missing_ok=True)  # a camera that changed format leaves no older latest behind
        self._prune()
        return latest

    def latest(self) -> Path | None:
        """The latest frame's file, if the camera has one."""
        for name in ("latest.jpg", "latest.png"):
            if (path := self.directory / name).is_file():
                return path
        return None

    def frames(self) -> list[Path]:
        """Kept frames, oldest first (the newest is the latest)."""
        if not self.frames_dir.exists():
            return []
        return sorted(p for p in self.frames_dir.iterdir() if not p.name.startswith("."))

    def _prune(self) -> None:
        frames = self.frames()
        for old in frames[: max(0, len(frames) - (self.keep_previous + 1))]:
            old.unlink(missing_ok=True)
