"""The one QR code helper: membership cards, vouchers and referral share links are drawn here."""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(
    data: str, *, title: str | None = None, border: int = 2, dark: str = "#000", light: str | None = None
) -> SafeString:
    """``data`` as an inline SVG QR code (error correction M; never a Micro QR, which phone cameras rarely read).

    ``light`` None leaves the background transparent. Safe to insert into a page: segno draws the code from
    ``data`` without writing it into the SVG, and escapes ``title``.
    """
    code = segno.make_qr(data, error="m")
    # segno's output (see above), so marking it safe passes no user input through.
    return mark_safe(code.svg_inline(scale=4, border=border, dark=dark, light=light, title=title, omitsize=True))
