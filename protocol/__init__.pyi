# Type stubs for protocol/ (the .py files stay annotation-free for MicroPython).
# See docs/protocol-api.md, "Type stubs".
from typing import Final

VERSION: Final = "0.1.0"
