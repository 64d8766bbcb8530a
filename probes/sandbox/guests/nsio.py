"""Listening sockets inside another network namespace, made from this process.

``setns(2)`` changes the namespace of the calling *thread* only, and a socket belongs to the
namespace it was created in for its whole life. So a short-lived thread enters the guest's
namespace, creates and binds the socket, and ends; the sandbox then serves it like any other.
This avoids a helper process per guest and never touches the host namespace's addresses.
Python 3.11 has no os.setns, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from probes.net import listen

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def listen_in_netns(netns: str, addr: str, port: int, backlog: int = 16) -> socket.socket:
    """A TCP socket listening on addr:port inside the named namespace (/run/netns/NAME)."""
    result: list[socket.socket] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(listen(addr, port, backlog))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    # The thread ends inside the guest's namespace; it is never reused for anything else.
    thread = threading.Thread(target=work, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join(timeout=10)
    if errors:
        raise errors[0]
    if not result:
        raise OSError(f"timed out creating a socket in {netns}")
    return result[0]


def pin(netns: str) -> int:
    """An fd on the named namespace: while it is open the namespace, and so its inode number,
    cannot be freed and reused — even if its name is removed from under us."""
    return os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)


def pids_in(pinned: int) -> list[int]:
    """Processes in the namespace pinned by the fd (see pin()).

    What ``ip netns pids`` does, but by inode: it still finds a guest's processes after the
    namespace's name was removed from under us."""
    inode = os.fstat(pinned).st_ino
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.stat(f"/proc/{entry.name}/ns/net").st_ino == inode:
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or a kernel thread
                continue
    return found
