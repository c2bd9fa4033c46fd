"""A server for the http engine's tests that cpp-httplib cannot serve: long
polls by the hundred (in a process of its own, so that its threads do not count
as the engine's) and a response that breaks off.

GET /poll     waits until /release (at most 20 s), then answers "released"
GET /waiting  the number of /poll calls currently waiting
GET /release  lets every waiting and future /poll answer
GET /truncated  announces 100 bytes of body, sends 10, closes the connection
Prints its port on the first line of stdout.
"""

import http.server
import threading

release = threading.Event()
lock = threading.Lock()
waiting = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        global waiting
        if self.path == "/poll":
            with lock:
                waiting += 1
            release.wait(20)
            with lock:
                waiting -= 1
            self.reply("released")
        elif self.path == "/waiting":
            with lock:
                self.reply(str(waiting))
        elif self.path == "/release":
            release.set()
            self.reply("ok")
        elif self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        else:
            self.send_error(404)

    def reply(self, text):
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Hundreds of calls connect at once; the default backlog of 5 would make
    # most of them wait for SYN retransmits.
    request_queue_size = 1024
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
