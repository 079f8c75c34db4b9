#!/usr/bin/env python3
"""An HTTP/1.0 server whose responses carry no length: the body ends when the server closes
the connection (FIN), the framing naive parsers get wrong. A fixture of fidelity_test.sh.

Usage: http10_server.py PORT LOG. Every answered request is appended to LOG as
"CLIENT_IP METHOD STATUS URI", the same line as nginx's "truth" format in lib.sh: the ground
truth podlens' counts are compared with.
"""
import http.server
import sys

# path -> (status, body size in bytes)
ROUTES = {
    "/small": (200, 12),
    "/empty": (200, 0),  # headers, then at once FIN: a zero-length body until close
    "/big": (200, 100 * 1024),  # many segments
    "/huge": (200, 1024 * 1024),
    "/missing": (404, 50),
    "/busy": (503, 30),
    "/submit": (200, 20),
}


class Http10Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection, closed after the answer

    def do_GET(self):
        self.answer(send_body=True)

    def do_HEAD(self):
        self.answer(send_body=False)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.answer(send_body=True)

    def answer(self, send_body):
        path = self.path.split("?", 1)[0]
        if path.startswith("/items/"):
            status, size = 200, 40
        else:
            status, size = ROUTES.get(path, (404, 50))
        self.send_response(status)  # status line, Server, Date
        self.send_header("Content-Type", "text/plain")
        self.end_headers()  # no Content-Length, no Transfer-Encoding
        if send_body:
            self.wfile.write(b"x" * size)
        with open(self.server.log_path, "a") as log:
            log.write(f"{self.client_address[0]} {self.command} {status} {self.path}\n")

    def log_message(self, format, *args):  # the log above is the only one
        pass


def main():
    server = http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), Http10Handler)
    server.log_path = sys.argv[2]
    server.serve_forever()


if __name__ == "__main__":
    main()
