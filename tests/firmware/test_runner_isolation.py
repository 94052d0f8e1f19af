"""The firmware test helpers run every script from a directory of its own: the interpreter puts
the script's directory first on sys.path, so a script in a shared /tmp would import a stray
`acl/` (or any module) lying there instead of the firmware's."""

from __future__ import annotations

from provisioning import mpy
from tests.firmware.conftest import run_cpython
from tests.support.micropython import REPO, run_micropython

SCRIPT = """
import os, sys
here = sys.path[0] if sys.path[0] else "."
print("FIRST", sorted(os.listdir(here)))
import acl
print("ACL", acl.__file__.replace("\\\\", "/").split("/")[-3:])
"""


def test_micropython_scripts_run_alone_in_their_directory():
    proc = run_micropython(SCRIPT, check=True)
    assert "FIRST ['script.py']" in proc.stdout, proc.stdout
    # the firmware's compiled acl (provisioning.mpy: <REPO>/build/mpy/<digest>/lib/acl.mpy)
    tree = mpy.compiled_tree(REPO)
    assert f"ACL ['{tree.name}', 'lib', 'acl.mpy']" in proc.stdout, proc.stdout


def test_cpython_scripts_run_alone_in_their_directory():
    proc = run_cpython(SCRIPT)
    assert proc.returncode == 0, proc.stderr
    assert "FIRST ['script.py']" in proc.stdout, proc.stdout
    assert "ACL ['firmware', 'lib', 'acl.py']" in proc.stdout, proc.stdout
