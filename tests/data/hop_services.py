"""The services of the SSH-hop tests' private network (tests/common/hopnet.rs).

Run inside a network namespace whose only way in is the hop's sshd, it serves
on 127.0.0.1:
  8080  HTTP: `GET /` answers a fixed line naming the web host; `GET /size/N`
        answers N bytes (for throughput tests), anything else 404.
  7777  TCP echo: every byte back, until the client half-closes.
It prints `ready` once both sockets listen, so the harness waits on that
rather than on a timer, and exits when its stdin closes or it is killed.
"""

import http.server
import socketserver
import sys
import threading

HTTP_PORT = 8080
ECHO_PORT = 7777
BODY = b"hello from web.vpc.internal\n"
CHUNK = bytes(range(256)) * 256  # 64 KiB, repeated for /size/N


class Web(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/":
            self.answer(len(BODY), [BODY])
        elif self.path.startswith("/size/") and self.path[6:].isdigit():
            size = int(self.path[6:])
            self.answer(size, pieces(size))
        else:
            self.send_error(404)

    def answer(self, length, pieces):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        for piece in pieces:
            self.wfile.write(piece)

    def log_message(self, *args):
        pass  # the tests read their answers, not a log


def pieces(size):
    while size > 0:
        piece = CHUNK[: min(size, len(CHUNK))]
        size -= len(piece)
        yield piece


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)


class Threaded(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    servers = [
        Threaded(("127.0.0.1", HTTP_PORT), Web),
        Threaded(("127.0.0.1", ECHO_PORT), Echo),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    # Stdin closing (the harness gone) ends the services too.
    sys.stdin.read()


if __name__ == "__main__":
    main()
