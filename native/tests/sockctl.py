#!/usr/bin/env python3
"""Talks the attach socket protocol (PROTOCOL.md) for tests.
usage: sockctl.py SOCKET signal N        send signal N, print the exit code when it comes
       sockctl.py SOCKET wait            wait for the exit frame, print the code
       sockctl.py SOCKET read SECS       hello(stdout|stderr), print frames for SECS seconds
       sockctl.py SOCKET stdin TEXT      hello(stdin|stdout), send TEXT then EOF, print output until exit"""
import socket, struct, sys, time, select

def frame(t, payload=b''):
    return struct.pack('>BI', t, len(payload)) + payload

def main():
    path, cmd = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    flags = {'signal': 0, 'wait': 0, 'read': 6, 'stdin': 7}[cmd]
    out = frame(7, bytes([flags]))
    if cmd == 'signal':
        out += frame(6, struct.pack('>I', int(sys.argv[3])))
    if cmd == 'stdin':
        out += frame(0, sys.argv[3].encode()) + frame(5)
    # One write, as the C client does. The container may be done (and the monitor may have
    # closed the connection) before all of it is sent: what it wrote is still ours to read.
    try:
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError):
        pass
    deadline = time.time() + (float(sys.argv[3]) if cmd == 'read' else 30)
    buf = b''
    while time.time() < deadline:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.time()))
        if not r:
            break
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            d = b''
        if not d:
            print('EOF')
            return
        buf += d
        while len(buf) >= 5:
            t, n = struct.unpack('>BI', buf[:5])
            if len(buf) < 5 + n:
                break
            p, buf = buf[5:5 + n], buf[5 + n:]
            if t == 3:
                print('exit', struct.unpack('>i', p)[0])
                return
            sys.stdout.write({1: 'out: ', 2: 'err: '}.get(t, '?: ') + p.decode(errors='replace'))
            sys.stdout.flush()
    print('timeout')

main()
