#!/usr/bin/env python3
"""Drives `run --attach --tty --stdin` and `attach` through a real pty (detach keys, resize,
reattach, exit code). usage: ttytest.py HELPER RUNDIR BUNDLE"""
import fcntl, os, pty, select, struct, subprocess, sys, termios, time

helper, rundir, bundle = sys.argv[1:4]

def spawn(args, rows=30, cols=100):
    m, s = pty.openpty()
    fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    p = subprocess.Popen(args, stdin=s, stdout=s, stderr=s, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(s)
    return p, m

def expect(m, what, timeout=5):
    buf = b''
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([m], [], [], 0.1)
        if r:
            try:
                d = os.read(m, 4096)
            except OSError:
                break
            if not d:
                break
            buf += d
            if what.encode() in buf:
                return buf
    raise SystemExit('FAIL: expected %r, got %r' % (what, buf))

def drain(m, secs=0.3):
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([m], [], [], 0.05)
        if r:
            try:
                os.read(m, 4096)
            except OSError:
                return

H = [helper, '--rundir', rundir]
p, m = spawn(H + ['run', bundle, '--attach', '--tty', '--stdin', '--sig-proxy'])
expect(m, '# ')
os.write(m, b'stty size; tty\r')
out = expect(m, '/dev/pts/0')
assert b'30 100' in out, out
print('ok: initial size 30x100 and tty /dev/pts/0')
fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
os.kill(p.pid, 28)  # SIGWINCH (the kernel sends it to the foreground group; we are not one)
time.sleep(0.2)
os.write(m, b'stty size\r')
expect(m, '40 120')
print('ok: resize to 40x120')
os.write(m, b'\x10\x11')  # ctrl-p ctrl-q
rc = p.wait(timeout=5)
assert rc == 0, rc
print('ok: detached with ctrl-p,ctrl-q, exit 0')
exitf = os.path.join(bundle, 'exit.json')
assert not os.path.exists(exitf), 'container stopped after detach'
print('ok: container still running')
sock = os.path.join(bundle, 'mon', 'attach')
p, m = spawn(H + ['attach', sock, '--tty', '--stdin', '--detach-keys', 'ctrl-a'], rows=20, cols=70)
time.sleep(0.2)
os.write(m, b'stty size\r')
expect(m, '20 70')
print('ok: reattached, size follows the new client')
os.write(m, b'\x01')
assert p.wait(timeout=5) == 0
print('ok: custom detach key ctrl-a')
p, m = spawn(H + ['attach', sock, '--tty', '--stdin'])
time.sleep(0.2)
os.write(m, b'exit 5\r')
rc = p.wait(timeout=5)
assert rc == 5, rc
print('ok: exit code 5 through attach')
