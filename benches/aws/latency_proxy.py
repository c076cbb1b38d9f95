#!/usr/bin/env python3
"""A TCP proxy that adds a fixed delay to every request on its way to moto, so
the benchmark can show what concurrency buys when calls are latency-bound, as
they are against AWS (moto on 127.0.0.1 answers in a few ms, from one Python
process). Each chunk read from the client (an HTTP request: IAM requests are
small) is forwarded after DELAY ms; responses pass through at once. Requests on
one connection stay in order; connections are independent.

Usage: latency_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
"""

import asyncio
import sys


async def pipe(reader, writer, delay):
    try:
        while data := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(listen, target, delay):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer, delay),
            pipe(server_reader, client_writer, 0),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen, target, delay_ms = (int(a) for a in sys.argv[1:4])
    asyncio.run(main(listen, target, delay_ms / 1000))
