"""Evidence helpers: photos with location and camera metadata, and reading it back."""

from __future__ import annotations

import io
from typing import Any

GPS_IFD = 0x8825
MAKE, MODEL = 0x010F, 0x0110


def gps_jpeg(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48),
             ) -> bytes:
    """A JPEG as a phone takes it: EXIF with the camera and a GPS position."""
    from PIL import Image

    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[MODEL] = "EOS 5D"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 15.0, 7.5), 3: "E",
                                  4: (120.0, 10.0, 2.25)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95)
    return out.getvalue()


def exif_of(data: bytes) -> dict[str, Any]:
    """The camera and GPS metadata an image carries ({} when it has none)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        found: dict[str, Any] = {}
        if exif.get(MAKE) or exif.get(MODEL):
            found["camera"] = (exif.get(MAKE), exif.get(MODEL))
        gps = dict(exif.get_ifd(GPS_IFD))
        if gps:
            found["gps"] = gps
        if image.info.get("exif"):
            found["raw_exif"] = len(image.info["exif"])
        return found


def image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size
