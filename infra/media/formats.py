"""Which still formats mmsearch decodes, and what a file it cannot decode is.

Pillow reads JPEG, PNG, WebP (still and animated: the first frame), GIF, BMP, TIFF (the first
page) and AVIF; pillow-heif adds HEIC/HEIF (what phones write); rawpy (LibRaw) reads camera
RAW files (mmsearch.infra.media.raw). A file none of them reads is named by its content
(puremagic): a known image or video type is `unsupported_format`, anything else
`not_an_image`; a file that starts like a format it reads but does not decode is
`corrupt_image`.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

RAW_EXTENSIONS = frozenset(
    {
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
        ".rw2", ".raf", ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".mrw", ".rwl",
        ".iiq", ".mos", ".mef",
    }
)  # fmt: skip
STILL_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif",
        ".heic", ".heif", ".hif",
    }
)  # fmt: skip
IMAGE_EXTENSIONS = STILL_EXTENSIONS | RAW_EXTENSIONS
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".3gp"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS

# Leading bytes of containers that may hold a camera RAW file: TIFF (DNG, NEF, CR2, ARW, PEF,
# ...), Canon CR3 (ISO BMFF `crx`), Fujifilm RAF, Olympus ORF, Panasonic RW2, Sigma X3F,
# Minolta MRW. LibRaw is asked first for these; what it does not take goes to Pillow.
_RAW_STARTS = (b"II*\x00", b"MM\x00*", b"FUJIFILMCCD-RAW", b"IIRO", b"IIRS", b"MMOR")
_RAW_STARTS_MORE = (b"IIU\x00", b"FOVb", b"\x00MRM")

_REGISTERED = threading.Event()
_LOCK = threading.Lock()


def register_decoders() -> None:
    """Teach Pillow the formats of plug-in packages (HEIF); once per process."""
    if _REGISTERED.is_set():
        return
    with _LOCK:
        if _REGISTERED.is_set():
            return
        try:
            from pillow_heif import register_heif_opener
        except ImportError:
            log.info("pillow-heif is not installed: HEIC/HEIF files are unsupported_format")
        else:
            register_heif_opener()
        _REGISTERED.set()


def may_be_raw(data: bytes) -> bool:
    """Whether `data` starts like a container camera RAW files use."""
    crx = data[4:12] == b"ftypcrx "
    return data.startswith(_RAW_STARTS) or data.startswith(_RAW_STARTS_MORE) or crx


def pillow_format(data: bytes) -> str | None:
    """The format Pillow (with its plug-ins) takes `data` for by its first bytes, read or not."""
    from PIL import Image

    Image.init()
    prefix = data[:16]
    for name, (_, accept) in Image.OPEN.items():
        if accept is not None and accept(prefix):
            return str(name)
    return None


def media_type(data: bytes) -> str:
    """The MIME type `data` looks like by its content ("" when unknown)."""
    import puremagic

    try:
        return str(puremagic.from_string(data[:8192], mime=True) or "")
    except (puremagic.PureError, ValueError):
        return ""


def is_media_type(mime: str) -> bool:
    """Whether a MIME type names pictures or moving pictures (a format, not another file)."""
    return mime.startswith(("image/", "video/"))
