"""A fault-injecting HTTP proxy in front of moto's S3, for the CLI tests.

    python3 s3proxy.py UPSTREAM MODE

Listens on a free 127.0.0.1 port, prints it on the first line of stdout, and
forwards every request to UPSTREAM (http://127.0.0.1:PORT) until its standard
input closes. MODE is one of:

- `strip`: drops `If-None-Match` and `If-Match` from every request, as an
  S3-compatible store that ignores conditional writes does in effect; nhi must
  refuse such a store (its probe's second create succeeds).
- `serialize`: lets one conditional write (a PUT or DELETE with `If-None-Match`
  or `If-Match`) through at a time. moto 5.2.5 checks the condition and then
  writes (`moto/s3/responses.py`, `put_object`: a `get_object`, then a
  `put_object`, with no lock between them), so two conditional creates that
  interleave between the two steps could both succeed. Amazon S3 decides each
  condition atomically; serialising here gives the race test that guarantee,
  so that it tests nhi and not moto's threads. In 300 rounds of 16 concurrent
  creates moto never let two through, but nothing in its code forbids it.

Only the standard library is used.
"""

import http.client
import http.server
import socketserver
import sys
import threading
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
MODE = sys.argv[2]
if MODE not in ("strip", "serialize"):
    sys.exit(f"unknown mode {MODE!r}")
CONDITIONS = ("if-none-match", "if-match")
WRITES = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the tests read nhi's output
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self):
        data = self.body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conditional = any(k.lower() in CONDITIONS for k in headers)
        if MODE == "strip":
            headers = {k: v for k, v in headers.items() if k.lower() not in CONDITIONS}
        if self.command in ("PUT", "POST", "DELETE") or data:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
            headers["Content-Length"] = str(len(data))
        serial = MODE == "serialize" and conditional and self.command in ("PUT", "DELETE")
        if serial:
            WRITES.acquire()
        try:
            upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
            upstream.request(self.command, self.path, body=data, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            upstream.close()
        finally:
            if serial:
                WRITES.release()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the test's end closes this pipe
    server.shutdown()


if __name__ == "__main__":
    main()
