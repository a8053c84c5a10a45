#!/usr/bin/env python3
"""Traffic known by construction, for scripts/capture-samples.

serve    answers TCP (one line in, one line out, then waits for the client to close) and UDP
         (echoes each datagram) on the given address,port pairs, until killed.
connect  makes the given connections and logs each one, as the client's own sockets saw it
         (getsockname/getpeername), as a JSON line: this is the ground truth that the end-to-end
         tests compare ephemera's report against.

A target is PROTO,ADDRESS,PORT,COUNT, e.g. tcp,198.18.0.2,8080,20 or udp,2001:db8::2,55555,6.
"""
import argparse
import errno
import json
import os
import random
import socket
import sys
import threading
import time


def family_of(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def parse_target(text):
    proto, address, port, count = text.split(",")
    return proto, address, int(port), int(count)


def serve_tcp_client(conn):
    with conn:
        conn.settimeout(30)
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(b"reply " + data)
        while conn.recv(4096):  # the client closes first, so it holds TIME_WAIT
            pass


def serve_tcp(address, port):
    server = socket.socket(family_of(address), socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(1024)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve_tcp_client, args=(conn,), daemon=True).start()


def serve_udp(address, port):
    server = socket.socket(family_of(address), socket.SOCK_DGRAM)
    server.bind((address, port))
    while True:
        data, peer = server.recvfrom(4096)
        server.sendto(b"reply " + data, peer)


def serve(args):
    threads = []
    for spec in args.tcp or []:
        address, port = spec.rsplit(",", 1)
        threads.append(threading.Thread(target=serve_tcp, args=(address, int(port)), daemon=True))
    for spec in args.udp or []:
        address, port = spec.rsplit(",", 1)
        threads.append(threading.Thread(target=serve_udp, args=(address, int(port)), daemon=True))
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def record(sock, proto, outcome):
    local = sock.getsockname()
    try:
        remote = sock.getpeername()
    except OSError:
        remote = (None, None)
    return {"protocol": proto, "client": local[0], "client_port": local[1],
            "server": remote[0], "server_port": remote[1], "outcome": outcome}


class SourcePorts:
    """Source ports the application binds itself: none (the kernel picks), a rising sequence
    (sequential:START) or random draws (random:LO-HI:SEED)."""

    def __init__(self, spec):
        self.kind = "kernel"
        if spec:
            parts = spec.split(":")
            self.kind = parts[0]
            if self.kind == "sequential":
                self.next = int(parts[1])
            elif self.kind == "random":
                low, high = (int(p) for p in parts[1].split("-"))
                self.draws = random.Random(int(parts[2])).sample(range(low, high + 1), 4096)

    def take(self):
        if self.kind == "sequential":
            self.next += 1
            return self.next - 1
        if self.kind == "random":
            return self.draws.pop(0)
        return 0


def failure(address, port, outcome):
    return {"protocol": "tcp", "client": None, "client_port": None, "server": address,
            "server_port": port, "outcome": outcome}


def tcp_open(address, port, args, source_ports):
    """A connected socket, or the JSON failure record of the attempt."""
    while True:
        sock = socket.socket(family_of(address), socket.SOCK_STREAM)
        sock.settimeout(args.connect_timeout)
        bind_port = source_ports.take()
        if bind_port:
            sock.bind(("" if family_of(address) == socket.AF_INET else "::", bind_port))
        try:
            sock.connect((address, port))
            return sock
        except ConnectionRefusedError:
            sock.close()
            return failure(address, port, "refused")
        except socket.timeout:
            sock.close()
            return failure(address, port, "unanswered")
        except OSError as error:
            sock.close()
            # Every port of the range is taken (EADDRNOTAVAIL): no packet leaves the host.
            if error.errno != errno.EADDRNOTAVAIL:
                raise
            if not args.retry_local:
                return failure(address, port, "local-failure")
            time.sleep(0.05)


def tcp_exchange_and_close(sock):
    sock.sendall(b"hello\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    entry = record(sock, "tcp", "closed")
    sock.close()
    return entry


def udp_open(address, port):
    """A connected UDP socket that has had its first answer, or the JSON failure record when no
    local port was left (connect() autobinds: EAGAIN once every port of the range is held)."""
    sock = socket.socket(family_of(address), socket.SOCK_DGRAM)
    sock.settimeout(5)
    try:
        sock.connect((address, port))
    except OSError as error:
        sock.close()
        if error.errno not in (errno.EAGAIN, errno.EADDRNOTAVAIL):
            raise
        return {"protocol": "udp", "client": None, "client_port": None, "server": address,
                "server_port": port, "outcome": "local-failure"}
    sock.send(b"hello\n")
    sock.recv(4096)
    return sock


def udp_last_exchange_and_close(sock):
    sock.send(b"bye\n")
    sock.recv(4096)
    entry = record(sock, "udp", "answered")
    sock.close()
    return entry


def udp_flow(address, port):
    opened = udp_open(address, port)
    if isinstance(opened, dict):
        return opened
    entry = record(opened, "udp", "answered")
    opened.close()
    return entry


def schedule(targets, interleave):
    """The connections to make, in order: target by target, or round-robin across targets."""
    queues = [[(proto, address, port)] * count for proto, address, port, count in targets]
    if not interleave:
        return [item for queue in queues for item in queue]
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop())
    return order


def connect(args):
    targets = [parse_target(t) for t in args.to]
    source_ports = SourcePorts(args.bind)
    holding = bool(args.hold or args.hold_seconds)
    log = []
    held = []
    for proto, address, port in schedule(targets, args.interleave):
        if proto == "udp" and holding:  # the socket keeps its port until the hold ends
            opened = udp_open(address, port)
            (log if isinstance(opened, dict) else held).append(opened)
            time.sleep(args.gap)
            continue
        if proto == "udp":
            log.append(udp_flow(address, port))
            time.sleep(args.gap)
            continue
        opened = tcp_open(address, port, args, source_ports)
        if isinstance(opened, dict):
            log.append(opened)
        elif holding:
            held.append(opened)
        else:
            log.append(tcp_exchange_and_close(opened))
        time.sleep(args.gap)
    for proto, address, port, _ in targets:
        for _ in range(args.extra):  # attempts beyond what the range holds
            if proto == "udp":
                log.append(udp_flow(address, port))
                continue
            opened = tcp_open(address, port, args, source_ports)
            log.append(opened if isinstance(opened, dict) else tcp_exchange_and_close(opened))
    if holding:
        print("holding", flush=True)
        if args.hold:
            while not os.path.exists(args.hold):
                time.sleep(0.05)
        else:
            time.sleep(args.hold_seconds)
        for sock in held:
            if sock.type == socket.SOCK_DGRAM:
                log.append(udp_last_exchange_and_close(sock))
            else:
                log.append(tcp_exchange_and_close(sock))
            time.sleep(args.gap)
    with open(args.log, "a") as out:
        for entry in log:
            out.write(json.dumps(entry) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve")
    serve_parser.add_argument("--tcp", action="append", help="ADDRESS,PORT")
    serve_parser.add_argument("--udp", action="append", help="ADDRESS,PORT")
    connect_parser = sub.add_parser("connect")
    connect_parser.add_argument("--to", action="append", required=True, help="PROTO,ADDRESS,PORT,COUNT")
    connect_parser.add_argument("--log", required=True, help="append one JSON line per connection")
    connect_parser.add_argument("--interleave", action="store_true", help="round-robin the targets")
    connect_parser.add_argument("--gap", type=float, default=0.01, help="seconds between connections")
    connect_parser.add_argument("--hold", help="open every TCP connection, then wait for this file "
                                "to exist before exchanging data and closing (a capture started in between "
                                "sees no handshake)")
    connect_parser.add_argument("--hold-seconds", type=float, default=0,
                                help="open every TCP connection, keep them open this long, then close")
    connect_parser.add_argument("--extra", type=int, default=0,
                                help="after opening, this many more attempts per target")
    connect_parser.add_argument("--bind", help="sequential:START or random:LO-HI:SEED source ports")
    connect_parser.add_argument("--connect-timeout", type=float, default=10)
    connect_parser.add_argument("--retry-local", action="store_true",
                                help="retry a connect that fails locally (EADDRNOTAVAIL)")
    args = parser.parse_args()
    serve(args) if args.command == "serve" else connect(args)


if __name__ == "__main__":
    sys.exit(main())
