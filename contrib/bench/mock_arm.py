#!/usr/bin/env python3
"""A minimal stand-in for Azure Resource Manager for the cold-path benchmark: answers GET of one compute instance
(pointing at 127.0.0.1:PORT) and counts requests in the file given. Usage: mock_arm.py SSH_PORT COUNT_FILE"""
import http.server
import json
import sys

ssh_port, count_file = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(count_file, "a") as f:
            f.write(self.path + "\n")
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        body = json.dumps({
            "id": self.path.split("?")[0], "name": name,
            "properties": {"computeType": "ComputeInstance", "properties": {
                "state": "Running",
                "sshSettings": {"sshPublicAccess": "Enabled", "adminUserName": "azureuser", "sshPort": ssh_port},
                "connectivityEndpoints": {"publicIpAddress": "127.0.0.1"}}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
