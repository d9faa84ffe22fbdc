"""A stand-in for one server of a region, run by the host's /usr/bin/python3 in an empty image.

It answers HTTP on every port named on its command line (200 on any path). As a database member
(ROLE leader or replica) it also answers Patroni's /cluster (CLUSTER_JSON) and /patroni, and starts a
stand-in postmaster: the host's python3 run under the name `postgres`, as Patroni starts PostgreSQL.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ.get("ROLE", "app")
HERE = os.path.dirname(os.path.abspath(__file__))


class Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/cluster":
            body = os.environ.get("CLUSTER_JSON", "{}")
        elif self.path == "/patroni":
            body = json.dumps({"state": "running", "role": "primary" if ROLE == "leader" else "replica"})
        else:
            body = json.dumps({"ok": True, "role": ROLE})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(port):
    ThreadingHTTPServer(("0.0.0.0", port), Answer).serve_forever()


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1 ignores SIGTERM unless it handles it
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps a killed postmaster: no zombie stays
    if ROLE != "app":
        subprocess.Popen([os.path.join(HERE, "bin", "postgres"), os.path.join(HERE, "postmaster.py")])
    ports = [int(port) for port in sys.argv[1:]]
    for port in ports[1:]:
        threading.Thread(target=serve, args=(port,), daemon=True).start()
    serve(ports[0])


main()
