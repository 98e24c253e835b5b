"""A service stops on SIGTERM even while a browser holds a kept-alive connection, and a request under way
is answered first."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
import textwrap
import threading

SERVER = textwrap.dedent(
    """
    import sys, time
    from waitress import create_server
    from storage.web_serving import serve_until_terminated

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            print("slow request under way", flush=True)
            time.sleep(1.5)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    print(server.effective_port, flush=True)
    try:
        serve_until_terminated(server)
    finally:
        print("cleaned up", flush=True)
    """
)


def test_sigterm_stops_the_server_with_a_kept_alive_connection_open() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        idle.request("GET", "/")
        assert idle.getresponse().read() == b"ok"  # the connection stays open, kept alive
        slow = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers: list[bytes] = []
        slow.request("GET", "/slow")
        reader = threading.Thread(target=lambda: answers.append(slow.getresponse().read()))
        reader.start()
        assert proc.stdout.readline().strip() == "slow request under way"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        reader.join(timeout=5)
        assert answers == [b"ok"]
        assert proc.stdout.read().strip() == "cleaned up"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
