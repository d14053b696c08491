#!/usr/bin/env python3
"""The Azure CLI's `az ml compute connect-ssh` relay, reduced to its data path (azext_mlv2 `_ssh_connector.py`):
the `websockets` library, 4096-byte stdin reads each sent as one binary message, every received message written
to stdout; at stdin's end it stops sending and reads until the server closes. For contrib/bench/tunnel.sh only.
Usage: cli_connector.py wss://host:port/path TOKEN CA_FILE"""
import asyncio
import ssl
import sys

import websockets


async def main(url, token, ca):
    context = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, ssl=context,
                                  max_size=None) as ws:
        loop = asyncio.get_running_loop()
        stdin = sys.stdin.buffer
        stdout = sys.stdout.buffer

        async def up():
            while True:
                data = await loop.run_in_executor(None, stdin.read1, 4096)
                if not data:
                    return
                await ws.send(data)

        async def down():
            async for message in ws:
                stdout.write(message)
            stdout.flush()

        sender = asyncio.create_task(up())
        await down()
        sender.cancel()


asyncio.run(main(*sys.argv[1:4]))
