"""Camera frames of simulated robots (`robodine sim --camera`): JPEGs that show something.

With Pillow (``pip install robodine[sim]``, in the test extras too) each frame
is drawn: the robot's id, the time, its position as a dot on the floor's
outline and a bar that moves with the frame count, so a live view visibly
changes. Without Pillow every frame is the same small JPEG below (32x24): the
path through chunks, gateway, Redis and the web is the same, only less to see.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass

from config.settings import FloorSettings

__all__ = ["FALLBACK_JPEG", "CameraOptions", "FrameMaker"]

FALLBACK_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a1816"
    "16183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c6567"
    "63ffdb0043011112121815182f1a1a2f63423842636363636363636363636363636363636363636363636363"
    "6363636363636363636363636363636363636363636363636363ffc000110800180020030122000211010311"
    "01ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303"
    "020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024"
    "33627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566"
    "6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7"
    "b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc400"
    "1f0100030101010101010101010000000000000102030405060708090a0bffc400b511000201020404030407"
    "05040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a"
    "162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9"
    "bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c030100"
    "02110311003f00c6b6b7864b6967b89a48d6374401230e4960c7bb0feed2f97a77fcfd5d7fe032ff00f1ca22"
    "ff00903dcffd7c45ff00a0c954eba0c8b9e5e9dff3f575ff0080cbff00c7292e6de18eda29ede6924591dd08"
    "78c2105429ecc7fbd552ae4bff00207b6ffaf897ff00418e8012dae218eda582e21924591d1c14902105430e"
    "ea7fbd4be669dff3eb75ff00812bff00c6e8a28b00799a77fcfadd7fe04aff00f1ba4b9b8864b68a0b78648d"
    "6377725e40e4960a3b28feed1451603fffd9"
)


@dataclass(frozen=True)
class CameraOptions:
    fps: float = 5.0
    width: int = 320
    height: int = 240
    camera: str = "front"
    quality: int = 70


class FrameMaker:
    """One robot's frames: ``frame(x, y)`` gives the next JPEG."""

    def __init__(self, robot: str, options: CameraOptions, floor: FloorSettings) -> None:
        self.robot, self.options, self.floor = robot, options, floor
        self.count = 0
        digest = hashlib.sha256(robot.encode()).digest()
        self.colour = (40 + digest[0] % 80, 40 + digest[1] % 80, 60 + digest[2] % 100)
        try:
            from PIL import Image, ImageDraw
        except ImportError:
            self._pil = None
        else:
            self._pil = (Image, ImageDraw)

    def frame(self, x: float, y: float, now: float | None = None) -> bytes:
        self.count += 1
        if self._pil is None:
            return FALLBACK_JPEG
        image_mod, draw_mod = self._pil
        w, h = self.options.width, self.options.height
        im = image_mod.new("RGB", (w, h), self.colour)
        d = draw_mod.Draw(im)
        m = max(4, w // 20)
        d.rectangle((m, m, w - m, h - m), outline=(230, 230, 230))
        px = m + (w - 2 * m) * min(max(x / self.floor.width, 0.0), 1.0)
        py = m + (h - 2 * m) * min(max(y / self.floor.height, 0.0), 1.0)
        r = max(3, w // 40)
        d.ellipse((px - r, py - r, px + r, py + r), fill=(255, 200, 60))
        bar = (self.count * 7) % (w - 2 * m)
        d.rectangle((m, h - m - 6, m + bar, h - m - 2), fill=(120, 220, 140))
        stamp = time.strftime("%H:%M:%S", time.localtime(now if now is not None else time.time()))
        d.text((m + 4, m + 4), f"{self.robot}  {stamp}", fill=(255, 255, 255))
        d.text((m + 4, m + 18), f"x {x:5.1f}  y {y:5.1f}  #{self.count}", fill=(255, 255, 255))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=self.options.quality)
        return out.getvalue()
