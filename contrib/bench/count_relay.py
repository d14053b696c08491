#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 that forwards every connection to 127.0.0.1:PORT and logs each chunk it moves as
`SECONDS DIRECTION BYTES` (DIRECTION `up` = client→server, `down` = server→client) to LOG. Prints its own port,
then serves until killed. Used by keepalive.sh to see what an idle ssh session sends."""
import socket
import sys
import threading
import time

target, log_path = int(sys.argv[1]), sys.argv[2]
log = open(log_path, "a", buffering=1)
lock = threading.Lock()
start = time.monotonic()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)


def pump(src, dst, direction):
    while True:
        data = src.recv(65536)
        if not data:
            break
        with lock:
            log.write(f"{time.monotonic() - start:.3f} {direction} {len(data)}\n")
        dst.sendall(data)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


while True:
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(client, server, "up"), daemon=True).start()
    threading.Thread(target=pump, args=(server, client, "down"), daemon=True).start()
