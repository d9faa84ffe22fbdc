"""A stand-in postmaster: accepts connections on 5432 and keeps one backend, which ends when it does."""

import os
import socket
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND = "import os, time\nparent = os.getppid()\nwhile os.getppid() == parent:\n    time.sleep(0.2)\n"

subprocess.Popen([os.path.join(HERE, "bin", "postgres"), "-c", BACKEND])
server = socket.create_server(("0.0.0.0", 5432))
while True:
    connection, _ = server.accept()
    connection.close()
