"""A bounded load on `flinkform serve` from a second process: CLIENTS concurrent
keep-alive HTTP/1.1 clients for SECONDS on loopback, each asking for the PATHS in turn,
while the server's resident memory (/proc/PID/status VmRSS) is sampled. Prints JSON:
requests, errors (by kind), statuses and the largest RSS seen (KiB)."""

import asyncio
import json
import sys
import time

host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
clients, seconds = int(sys.argv[4]), float(sys.argv[5])
paths = sys.argv[6:]
stats = {"requests": 0, "errors": {}, "statuses": {}, "max_rss_kb": 0}


def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def client(i, deadline):
    reader = writer = None
    n = i
    while time.monotonic() < deadline:
        path = paths[n % len(paths)]
        n += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            accept = "application/json" if path.startswith("json:") else "text/html"
            path = path.removeprefix("json:")
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n\r\n".encode())
            await writer.drain()
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = None
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            if length is None:
                raise ValueError("no Content-Length")
            await reader.readexactly(length)
            stats["requests"] += 1
            stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
        except Exception as e:  # every failure is counted, by kind
            kind = type(e).__name__
            stats["errors"][kind] = stats["errors"].get(kind, 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None


async def watch_memory(deadline):
    while time.monotonic() < deadline:
        stats["max_rss_kb"] = max(stats["max_rss_kb"], rss_kb())
        await asyncio.sleep(0.2)


async def main():
    deadline = time.monotonic() + seconds
    await asyncio.gather(watch_memory(deadline), *(client(i, deadline) for i in range(clients)))


asyncio.run(main())
print(json.dumps(stats))
