"""A MicroPython "board" for provisioning tests: the unix port on a pseudo-terminal, inside a
temporary directory that is its filesystem.

    with PtyBoard(tmp_path / "board") as board:
        Board.open(board.port)        # mpremote's SerialTransport opens board.port (/dev/pts/N)
        board.path("flash/key.pub")   # what the board wrote, read from the host side
        board.output()                # everything it printed (REPL, firmware log lines)

Two pseudo-terminals joined like a null-modem cable: ``micropython`` runs with the slave of the
first as its stdin / stdout (the unix port's REPL needs a tty), the test (mpremote) opens the
slave of the second, and a thread copies bytes between the two masters and keeps a copy of what
the board printed. When nobody holds the port open, what the board prints is dropped, as on a
serial line with no listener, so a running firmware never blocks on its log.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import termios
import threading
import tty
from pathlib import Path

from tests.support.micropython import MICROPYTHON
from tests.support.mosquitto import preexec_for_thread


class PtyBoard:
    # 256K, not the handheld's 192K: the unix port cannot soft-reset, so the firmware starts
    # in the heap the REPL session used for the copy (the qstrs it interned stay), and at 192K
    # its 16 KiB upload buffer sometimes found no block; a board soft-resets to a clean heap
    def __init__(self, root: Path, heapsize: str = "256K") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.heapsize = heapsize
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = ""
        self._out = bytearray()
        self._lock = threading.Lock()
        self._fds: list[int] = []
        self._thread: threading.Thread | None = None

    def start(self) -> PtyBoard:
        board_master, board_slave = pty.openpty()
        cable_master, cable_slave = pty.openpty()
        # both raw, like serial lines, except that the board's keeps ISIG: micropython makes
        # its tty fully raw while it reads the REPL and restores this mode while code runs, so
        # a Ctrl-C then raises KeyboardInterrupt (SIGINT), as a board's UART interrupt
        # character does (mpremote interrupts a running firmware so)
        tty.setraw(board_slave)
        mode = termios.tcgetattr(board_slave)
        mode[3] |= termios.ISIG
        termios.tcsetattr(board_slave, termios.TCSANOW, mode)
        tty.setraw(cable_slave)
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}  # the board's own
        self.proc = subprocess.Popen(
            [MICROPYTHON, "-X", f"heapsize={self.heapsize}"],
            stdin=board_slave,
            stdout=board_slave,
            stderr=board_slave,
            cwd=self.root,
            env=env,
            start_new_session=True,
            preexec_fn=preexec_for_thread(),
        )
        os.close(board_slave)
        self.port = os.ttyname(cable_slave)
        # keep our own handle on the cable's far end: the master then never sees EIO while
        # the CLI has the port closed
        self._fds = [board_master, cable_master, cable_slave]
        os.set_blocking(cable_master, False)
        self._thread = threading.Thread(target=self._pump, name="pty-board", daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        board, cable = self._fds[0], self._fds[1]
        drain = self._fds[2]
        while True:
            try:
                ready, _, _ = select.select([board, cable], [], [], 0.5)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    if fd == board:
                        return  # micropython exited
                    continue
                if fd == board:
                    with self._lock:
                        self._out += data
                    try:
                        os.write(cable, data)
                    except BlockingIOError:  # nobody reads the port: the bytes are lost
                        _discard(drain)
                        try:
                            os.write(cable, data)
                        except BlockingIOError:
                            pass
                else:
                    os.write(board, data)

    def output(self) -> str:
        with self._lock:
            return self._out.decode(errors="replace")

    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        if self._thread is not None:
            self._thread.join(5)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PtyBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _discard(fd: int) -> None:
    """Read and drop what waits at the cable's far end while no client holds it."""
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
