"""A self-contained horizontal bar chart written as PNG (zlib + struct; no plotting library).

Labels use a 3x5 pixel font (digits, A-Z, a few signs; lowercase is drawn as uppercase).

Authors
 * speechbrain_diffa contributors 2026
"""

import struct
import zlib

# Each glyph: five rows of three pixels, one octal digit per row (4 = left pixel, 1 = right).
FONT = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-%/+:()_ ",
        [
            "75557",
            "26227",
            "71747",
            "71717",
            "55711",
            "74717",
            "74757",
            "71111",
            "75757",
            "75717",
            "25755",
            "65656",
            "34443",
            "65556",
            "74647",
            "74644",
            "34553",
            "55755",
            "72227",
            "11152",
            "55655",
            "44447",
            "57755",
            "65555",
            "25552",
            "65644",
            "25563",
            "65655",
            "34216",
            "72222",
            "55557",
            "55552",
            "55775",
            "55255",
            "55222",
            "71247",
            "00002",
            "00700",
            "51245",
            "11244",
            "02720",
            "02020",
            "24442",
            "21112",
            "00007",
            "00000",
        ],  # noqa: E501 (the font table)
    )
)
SCALE = 2  # screen pixels per font pixel
ROW = 9 * SCALE  # height of one bar row
BAR_WIDTH = 300  # pixels for 100 %
WHITE, BLACK, GREY, BLUE = (255, 255, 255), (0, 0, 0), (200, 200, 200), (70, 110, 180)


class Canvas:
    """An RGB pixel grid with rectangle and text drawing.

    Example
    -------
    >>> c = Canvas(4, 2)
    >>> c.rect(0, 0, 2, 1, BLACK)
    >>> c.pixels[0][:6]
    bytearray(b'\\x00\\x00\\x00\\x00\\x00\\x00')
    """

    def __init__(self, width, height):
        self.width, self.height = width, height
        self.pixels = [bytearray(WHITE * width) for _ in range(height)]

    def rect(self, x, y, w, h, color):
        """Fill ``[x, x + w) x [y, y + h)``, clipped to the canvas."""
        x0, x1 = max(0, x), min(self.width, x + w)
        for row in self.pixels[max(0, y) : min(self.height, y + h)]:
            row[3 * x0 : 3 * x1] = bytes(color) * max(0, x1 - x0)

    def text(self, x, y, text, color=BLACK):
        """Draw ``text`` with its top-left corner at ``(x, y)``; returns the width drawn."""
        for i, char in enumerate(text.upper()):
            glyph = FONT.get(char, "77777")
            for r, bits in enumerate(glyph):
                for c in range(3):
                    if int(bits) & (4 >> c):
                        self.rect(x + (4 * i + c) * SCALE, y + r * SCALE, SCALE, SCALE, color)
        return len(text) * 4 * SCALE

    def png(self):
        """The canvas encoded as PNG bytes."""

        def chunk(kind, data):
            """One PNG chunk: length, type, data, CRC."""
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

        raw = b"".join(b"\x00" + bytes(row) for row in self.pixels)
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        signature = b"\x89PNG\r\n\x1a\n"
        return signature + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def bar_chart(path, title, bars, max_label=28):
    """Write a horizontal bar chart of percentages to ``path`` (PNG).

    Arguments
    ---------
    path : str
        Output file.
    title : str
        Drawn on top.
    bars : list of (str, float)
        Label and value in percent (0-100); labels longer than ``max_label`` are shortened.

    Example
    -------
    >>> path = getfixture("tmpdir").strpath + "/chart.png"
    >>> bar_chart(path, "MMAU test-mini", [("overall", 61.5), ("sound", 70.0)])
    >>> open(path, "rb").read()[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    label_width = (max_label + 1) * 4 * SCALE
    width = label_width + BAR_WIDTH + 8 * 4 * SCALE
    canvas = Canvas(width, ROW * (len(bars) + 3))
    canvas.text(4, 4, title[: width // (4 * SCALE) - 2])
    top = 2 * ROW
    for tick in (0, 25, 50, 75, 100):
        x = label_width + tick * BAR_WIDTH // 100
        canvas.rect(x, top - 2, 1, ROW * len(bars) + 4, GREY)
        canvas.text(x - 4, top + ROW * len(bars) + 6, str(tick))
    for i, (label, value) in enumerate(bars):
        y = top + i * ROW
        short = label if len(label) <= max_label else label[: max_label - 1] + "."
        canvas.text(4, y + 2 * SCALE, short)
        length = int(round(max(0.0, min(100.0, value)) * BAR_WIDTH / 100))
        canvas.rect(label_width, y + SCALE, length, ROW - 2 * SCALE, BLUE)
        canvas.text(label_width + length + 4, y + 2 * SCALE, f"{value:.1f}")
    with open(path, "wb") as f:
        f.write(canvas.png())
