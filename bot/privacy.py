"""Masking of personal data in tip text before a supervisor sees it."""

from __future__ import annotations

import re

# Resident ID (18 chars, last may be X) before phones so an ID is not half-masked as a phone.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{11}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{7,8})(?!\d)")


def mask_personal_data(text: str) -> str:
    """Mask mobile numbers, landlines and resident ID numbers, keeping a hint of each."""
    text = _ID_NUMBER.sub(lambda m: m[1] + "*" * 12, text)
    text = _MOBILE.sub(lambda m: f"{m[1]}****{m[3]}", text)
    return _LANDLINE.sub(lambda m: f"{m[1]}-****{m[2][-2:]}", text)
