#!/usr/bin/env python3
"""A loopback TCP endpoint for the relay benchmark: `sink` reads and discards every connection until EOF,
`sinkn N` reads N bytes and closes (for tunnels, which have no half-close), `source N` sends N bytes of zeros to
each connection and closes. Prints its port, then serves until killed."""
import socket
import sys
import threading

mode = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 0
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)


def serve(conn):
    with conn:
        if mode == "sink":
            buf = bytearray(1 << 20)
            while conn.recv_into(buf):
                pass
        elif mode == "sinkn":
            buf = bytearray(1 << 20)
            left = size
            while left > 0:
                n = conn.recv_into(buf)
                if not n:
                    break
                left -= n
        else:
            chunk = memoryview(bytes(1 << 20))
            left = size
            while left > 0:
                n = min(left, len(chunk))
                conn.sendall(chunk[:n])
                left -= n


while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
