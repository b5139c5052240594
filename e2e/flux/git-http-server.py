#!/usr/bin/env python3
"""Serve the bare git repositories under a directory over git's smart HTTP protocol.

Each request is handed to `git http-backend` (CGI); fetch (upload-pack, protocol v0/v1/v2) and
push (receive-pack, enabled through http.receivepack=true) both work. No authentication: bind to
loopback only. Started and stopped by git-server.sh.

    git-http-server.py --root DIR [--host 127.0.0.1] [--port 18300]
"""

import argparse
import os
import shutil
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIT = shutil.which("git") or "/usr/bin/git"


class GitHandler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, the response ends when the socket closes, so the
    # backend's output can be streamed without knowing its length.
    protocol_version = "HTTP/1.0"
    server_version = "git-http-server"
    root = "."

    def do_GET(self):
        self._backend()

    def do_POST(self):
        self._backend()

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # git sends large pushes chunked (above http.postBuffer).
            parts = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _backend(self):
        path, _, query = self.path.partition("?")
        if ".." in path.split("/"):
            self.send_error(400, "bad path")
            return
        body = self._read_body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            # Allow anonymous push (http-backend refuses receive-pack without REMOTE_USER).
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            # The repos may be owned by another user than the server (git >= 2.35.2 checks).
            "GIT_CONFIG_KEY_1": "safe.directory",
            "GIT_CONFIG_VALUE_1": "*",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.run(
            [GIT, "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        if proc.stderr:
            msg = proc.stderr.decode(errors="replace")
            sys.stderr.write(msg if msg.endswith("\n") else msg + "\n")
        out = proc.stdout
        sep = out.find(b"\r\n\r\n")
        seplen = 4
        if sep < 0:
            sep, seplen = out.find(b"\n\n"), 2
        if sep < 0:
            self.send_error(502, "git http-backend failed (exit %d)" % proc.returncode)
            return
        status, headers = 200, []
        for line in out[:sep].decode("latin-1").splitlines():
            if not line.strip():
                continue
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value))
        payload = out[sep + seplen :]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))
        sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="directory holding bare repos (<name>.git)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18300)
    args = ap.parse_args()
    GitHandler.root = os.path.abspath(args.root)
    httpd = ThreadingHTTPServer((args.host, args.port), GitHandler)
    httpd.daemon_threads = True
    sys.stderr.write(
        "serving %s on http://%s:%d/\n" % (GitHandler.root, args.host, args.port)
    )
    sys.stderr.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
