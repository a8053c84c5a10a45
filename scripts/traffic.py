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
import json
import os
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


def tcp_open(address, port):
    sock = socket.socket(family_of(address), socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((address, port))
    return sock


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


def udp_flow(address, port):
    sock = socket.socket(family_of(address), socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.connect((address, port))
    sock.send(b"hello\n")
    sock.recv(4096)
    entry = record(sock, "udp", "answered")
    sock.close()
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
    log = []
    held = []
    for proto, address, port in schedule(targets, args.interleave):
        if proto == "udp":
            log.append(udp_flow(address, port))
        elif args.hold:
            held.append(tcp_open(address, port))
        else:
            log.append(tcp_exchange_and_close(tcp_open(address, port)))
        time.sleep(args.gap)
    if args.hold:
        print("holding", flush=True)
        while not os.path.exists(args.hold):
            time.sleep(0.05)
        for sock in held:
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
    args = parser.parse_args()
    serve(args) if args.command == "serve" else connect(args)


if __name__ == "__main__":
    sys.exit(main())
