"""Programs that write PNG files with Python's standard library alone (the sandbox has nothing
else), for the tests of output files shown as images (MCP image content, the playground)."""

from __future__ import annotations

PNG_WRITER = r"""import struct, zlib
def png(path, width, height, pixel):
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    rows = b''.join(b'\x00' + b''.join(bytes(pixel(x, y)) for x in range(width))
                   for y in range(height))
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    with open(path, 'wb') as out:
        out.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
                  + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
"""

# A 4x4 red plot.png.
RED_SQUARE = (
    PNG_WRITER + "png('plot.png', 4, 4, lambda x, y: (255, 0, 0))\nprint('wrote plot.png')\n"
)

# A 320x120 gradient plot.png, and some output on both streams.
GRADIENT = (
    PNG_WRITER
    + """png('plot.png', 320, 120, lambda x, y: (40 + x * 200 // 320, 90 + y, 235 - x * 150 // 320))
for step in range(3):
    print(f"step {step}: done")
print("plot.png: 320x120", file=__import__('sys').stderr)
"""
)
