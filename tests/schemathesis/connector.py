"""A contact center's connector for tests/schemathesis/run.sh: accepts every signed
rating request with 200. Writes the port it listens on to the file named by argv[1]."""

import http.server
import sys


class Accept(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Accept)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_port))
server.serve_forever()
