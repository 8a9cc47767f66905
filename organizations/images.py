"""Uploaded images (organization logos, avatars): checked from the header, then re-encoded.

The checks run before the pixels are decoded, so a small file that declares a huge image
(a decompression bomb) is refused without ever being expanded. Re-encoding drops metadata
(EXIF, GPS, comments) and anything that is not pixels.
"""

from __future__ import annotations

import io
import warnings
from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 1024
# Pillow's format name for each accepted file extension.
EXTENSIONS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
ACCEPT = "image/png,image/jpeg,image/webp"


def clean_image(upload: UploadedFile) -> ContentFile:
    """A PNG, JPEG or WebP of at most 2 MB and 1024×1024 pixels, re-encoded; else ValidationError."""
    extension = PurePath(upload.name or "").suffix.lower()
    if extension not in EXTENSIONS:
        raise ValidationError(_("Upload a PNG, JPEG or WebP image."), code="extension")
    if upload.size is None or upload.size > MAX_BYTES:
        raise ValidationError(
            _("The image is too large (%(size)s). The limit is %(limit)s.")
            % {"size": filesizeformat(upload.size or 0), "limit": filesizeformat(MAX_BYTES)},
            code="file_size",
        )
    upload.seek(0)
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make the warning an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Reads the header only, and tries no decoder other than these three.
            image = Image.open(upload, formats=sorted(set(EXTENSIONS.values())))
            if image.format != EXTENSIONS[extension]:
                raise ValidationError(_("The file extension does not match the image inside."), code="mismatch")
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise ValidationError(
                    _("The image is %(width)s×%(height)s pixels. The limit is %(max)s×%(max)s.")
                    % {"width": width, "height": height, "max": MAX_SIDE},
                    code="dimensions",
                )
            image.load()
            return _reencode(image)
        except ValidationError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValidationError(_("The image declares too many pixels."), code="bomb") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ValidationError(_("This file is not a valid PNG, JPEG or WebP image."), code="invalid") from exc


def _reencode(image: Image.Image) -> ContentFile:
    """PNG stays PNG (lossless, keeps transparency); JPEG and WebP become WebP. No metadata survives."""
    source_format = image.format
    image = ImageOps.exif_transpose(image)  # keep the intended orientation once EXIF is gone
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    if source_format == "PNG":
        image.save(out, format="PNG", optimize=True)
        name = "image.png"
    else:
        image.save(out, format="WEBP", quality=90)
        name = "image.webp"
    return ContentFile(out.getvalue(), name=name)
