"""Camera chunks from another process, as robots send them: ``python -m tests.camera_flood``.

Arguments: port seconds fps size robot:keyhex:camera[,camera...] ... Each camera
sends a distinct frame of ``size`` bytes ``fps`` times a second for ``seconds``;
prints the frames sent.
"""

from __future__ import annotations

import socket
import sys
import time

from protocol.camera_chunks import CameraSender


def main(argv: list[str]) -> int:
    port, seconds, fps, size = int(argv[0]), float(argv[1]), float(argv[2]), int(argv[3])
    cams: list[tuple[CameraSender, str]] = []
    for spec in argv[4:]:
        robot, key, names = spec.split(":")
        sender = CameraSender(robot, bytes.fromhex(key))
        cams += [(sender, name) for name in names.split(",")]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    start, sent, n = time.monotonic(), 0, 0
    while time.monotonic() - start < seconds:
        tick = time.monotonic()
        for sender, name in cams:
            frame = b"\xff\xd8" + n.to_bytes(8, "big") * ((size - 4) // 8) + b"\xff\xd9"
            for chunk in sender.frame(name, frame, time.time()):
                sock.sendto(chunk, ("127.0.0.1", port))
            sent += 1
        n += 1
        time.sleep(max(0.0, 1 / fps - (time.monotonic() - tick)))
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
