"""A MicroPython board over its serial REPL, through mpremote's transport (the library, not
the command line): copy the firmware and the config, make / read the device's key, start it.

    with Board.open("/dev/ttyACM0") as board:
        board.put_files(firmware_files(), progress)
        board.write("config.json", cfg_bytes)
        pub = board.ensure_identity("flash")
        board.start("config.json")

The board is entered with the raw REPL *without* a soft reset (mpremote's ``resume``): a soft
reset would end the unix port's process, and on a board it would run a half-copied main.py.
``start`` then runs the firmware: a real board gets a soft reset, which boots ``main.py``; the
unix port (``sys.platform == "linux"``) runs ``main.main()`` in the REPL it already has.
Paths are relative to the board's working directory: ``/`` on a board, the board directory on
the unix port.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from provisioning import bundle
from provisioning.errors import ProvisionError

REPO = Path(__file__).resolve().parents[1]
CHUNK = 1024  # bytes per raw-REPL write: small enough to compile on a 192K heap
Progress = Callable[[int], None]  # bytes just written


class BoardError(ProvisionError):
    pass


# forget the modules and names earlier REPL commands left, then collect: on the unix port the
# firmware starts in the heap those commands used
_FORGET = (
    "import sys\nfor _m in list(sys.modules):\n del sys.modules[_m]\n"
    "for _k in [k for k in globals() if k[0] != '_']:\n del globals()[_k]\n"
    "__import__('gc').collect()\n"
)


def firmware_files(src: Path = REPO) -> list[tuple[Path, str]]:
    """(local file, path in a slot / on the board) of the tree at ``src``: the list
    provisioning.bundle.firmware_files gives a bundle (the loader is not in it)."""
    return bundle.firmware_files(src)


def _exec_error(exc: TransportExecError) -> str:
    lines = [ln for ln in exc.error_output.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "error"


class Board:
    def __init__(self, transport: SerialTransport, port: str) -> None:
        self.t = transport
        self.port = port
        self.platform = ""
        self._console = bytearray()
        # where the firmware's modules are, relative to the board's directory: lib/ and the
        # root on the flat layout, <flash>/fw/a/lib and <flash>/fw/a on the OTA layout
        self.sys_path: tuple[str, ...] = ("lib",)

    @classmethod
    def open(cls, port: str, timeout: float = 10.0) -> Board:
        try:
            transport = SerialTransport(port, baudrate=115200, timeout=1)
        except TransportError:
            raise BoardError(f"no board at {port}: cannot open the serial port") from None
        board = cls(transport, port)
        try:
            transport.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
        except (TransportError, OSError) as exc:
            transport.close()
            raise BoardError(f"the board at {port} does not answer its raw REPL ({exc})") from None
        board.platform = str(board.eval("__import__('sys').platform"))
        return board

    def close(self) -> None:
        try:
            if self.t.in_raw_repl:
                self.t.exit_raw_repl()
        finally:
            self.t.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- primitives ------------------------------------------------------------------------

    def exec(self, code: str, timeout: float = 30) -> bytes:
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
            if err:
                raise TransportExecError(out, err.decode(errors="replace"))
            return bytes(out)
        except TransportExecError as exc:
            raise BoardError(f"the board at {self.port}: {_exec_error(exc)}") from None
        except (TransportError, OSError) as exc:
            raise BoardError(f"lost the board at {self.port}: {exc}") from None

    def eval(self, expr: str) -> object:
        try:
            return self.t.eval(expr)
        except TransportExecError as exc:
            raise BoardError(f"the board at {self.port}: {_exec_error(exc)}") from None
        except (TransportError, OSError) as exc:
            raise BoardError(f"lost the board at {self.port}: {exc}") from None

    def makedirs(self, path: str) -> None:
        self.exec(
            "import os\np=''\nfor d in %r.split('/'):\n p=p+d if not p else p+'/'+d\n"
            " try:\n  os.mkdir(p)\n except OSError:\n  pass" % path
        )

    def write(self, path: str, data: bytes, progress: Progress | None = None) -> None:
        """Write a file (to ``path.tmp``, then renamed over ``path``: a cut cable never leaves
        a half-written module under the real name)."""
        tmp = path + ".tmp"
        self.exec("f=open(%r,'wb')\nw=f.write" % tmp)
        for i in range(0, len(data), CHUNK):
            chunk = data[i : i + CHUNK]
            self.exec("w(%r)" % chunk)
            if progress is not None:
                progress(len(chunk))
        self.exec("f.close()\nimport os\nos.rename(%r,%r)" % (tmp, path))

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        out = self.exec(
            "try:\n f=open(%r,'rb')\nexcept OSError:\n print('-')\nelse:\n"
            " print(f.read().hex())\n f.close()" % path
        ).strip()
        return None if out == b"-" else bytes.fromhex(out.decode())

    # --- provisioning steps ----------------------------------------------------------------

    def put_files(self, files: list[tuple[Path, str]], progress: Progress | None = None) -> int:
        """Copy (local, remote) files, making their directories; returns the bytes written."""
        dirs = sorted({remote.rpartition("/")[0] for _, remote in files} - {""})
        for d in dirs:
            self.makedirs(d)
        total = 0
        for local, remote in files:
            data = local.read_bytes()
            self.write(remote, data, progress)
            total += len(data)
        return total

    def _paths(self) -> str:
        # firmware/lib is /lib on a board (already on sys.path there); the unix port's
        # sys.path has '' but not 'lib'. A slot's directories go first, as the loader puts them
        code = "import sys\n"
        for i, path in enumerate(self.sys_path):
            code += "if %r in sys.path:\n sys.path.remove(%r)\nsys.path.insert(%d, %r)\n" % (
                path,
                path,
                i,
                path,
            )
        return code

    def remove_tree(self, path: str) -> None:
        """Remove ``path`` (a file or a directory with everything in it); nothing if absent."""
        self.exec(
            "import os\ndef _rm(p):\n try:\n  m=os.stat(p)[0]\n except OSError:\n  return\n"
            " if m & 0x4000:\n  for n in os.listdir(p):\n   _rm(p+'/'+n)\n  os.rmdir(p)\n"
            " else:\n  os.remove(p)\n_rm(%r)\ndel _rm" % path,
            timeout=60,
        )

    def ensure_identity(self, flash: str) -> str:
        """Run ``identity.ensure(flash)`` on the board (the key pair is made there, from its
        own entropy, at the first call) and return the public key hex read back from
        ``<flash>/key.pub``. The seed never leaves the board."""
        self.makedirs(flash)
        # inside a function, and the modules forgotten after: nothing of it stays in the heap
        # the firmware starts in (the unix port has no soft reset to clear it)
        self.exec(
            self._paths() + "def _ensure():\n import identity\n identity.ensure(%r)\n"
            "_ensure()\ndel _ensure\n" % flash + _FORGET,
            timeout=60,
        )
        pub = self.read(flash + "/key.pub")
        text = (pub or b"").decode(errors="replace").strip()
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text.lower()):
            raise BoardError(f"the board at {self.port} has no valid {flash}/key.pub ({text!r})")
        return text.lower()

    def start(self, config: str, loader: bool = False) -> None:
        """Run the firmware. A board: leave the raw REPL and soft-reset, which boots main.py
        (it reads /config.json). The unix port: run main.main() in this REPL, not waiting; with
        ``loader`` (the OTA layout: main.py is firmware/loader.py, a script) run main.py as
        the script ``micropython main.py --config CONFIG`` would."""
        try:
            if self.platform == "linux" and loader:
                code = _FORGET + (
                    "import sys\nsys.argv.clear()\nsys.argv.extend(['main.py','--config',%r])\n"
                    "exec(open('main.py').read(),{'__name__':'__main__'})" % config
                )
                self.t.exec_raw_no_follow(code)
            elif self.platform == "linux":
                code = _FORGET + self._paths() + "import main\nmain.main(['--config', %r])" % config
                self.t.exec_raw_no_follow(code)
            else:
                self.t.exit_raw_repl()
                self.t.serial.write(b"\x04")  # ctrl-D at the friendly REPL: soft reset
        except (TransportError, OSError) as exc:
            raise BoardError(f"could not start the firmware on {self.port}: {exc}") from None
        self.t.in_raw_repl = False
        self._console = bytearray()

    def check_running(self) -> None:
        """Read what the started firmware printed; BoardError with its last line when it
        stopped on a traceback (a board with nobody reading its console just keeps going)."""
        serial = self.t.serial
        try:
            while serial.in_waiting:
                self._console += serial.read(serial.in_waiting)
        except OSError:
            return
        del self._console[:-8192]
        text = self._console.decode(errors="replace")
        at = text.rfind("Traceback (most recent call last)")
        if at < 0:
            return
        lines = [ln.strip() for ln in text[at:].splitlines()[1:]]
        for ln in lines:
            if ln and not ln.startswith("File "):
                raise BoardError(f"the firmware stopped on the board at {self.port}: {ln}")
