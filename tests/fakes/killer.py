"""``glaciermap`` in a process that stops itself at a chosen point: the kill, signal and race tests' CLI.

    python tests/fakes/killer.py [--at POINT] [--then ACTION] [--count FILE] -- glaciermap args...

POINT (in this process only; spawned pool workers run unpatched):

* ``rename:N``: the N-th hidden file (a temporary or partial name) about to take its final name;
  ``rename:N:NAME`` counts only those whose final name is NAME;
* ``call:MODULE:ATTR:N``: the N-th call of ``MODULE.ATTR`` (``ATTR`` may be ``Class.method``), before
  it runs.

ACTION: ``kill`` (SIGKILL, the default), ``term`` / ``int`` (that signal to this process), or
``pause`` (write ``<marker>`` given by ``--marker``, then wait, so the test can act: race another
writer, or signal the process from outside). ``--count FILE`` writes how many hidden files took their
final names, when the command ends (for choosing points in an uninterrupted run).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

_renames = [0]
_lock = threading.Lock()


def _act(action: str, marker: str | None) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action in ("term", "int"):
        os.kill(os.getpid(), signal.SIGTERM if action == "term" else signal.SIGINT)
    elif action == "pause":
        assert marker is not None
        Path(marker).write_text(str(os.getpid()))
        while True:  # until a signal from the test (its handler raises here) or a kill
            time.sleep(0.01)
            if Path(marker + ".go").exists():
                return


def _patch_renames(count_to: int | None, name: str | None, action: str, marker: str | None) -> None:
    for module, attr in ((os, "replace"), (os, "rename")):
        real = getattr(module, attr)

        def hooked(src, dst, *args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            hidden = Path(os.fsdecode(src)).name.startswith(".")
            if hidden and (name is None or Path(os.fsdecode(dst)).name == name):
                with _lock:
                    _renames[0] += 1
                    hit = _renames[0] == count_to
                if hit:
                    _act(action, marker)
            return _real(src, dst, *args, **kwargs)

        setattr(module, attr, hooked)


def _patch_call(
    module_name: str, attr_path: str, nth: int, action: str, marker: str | None
) -> None:
    owner: object = importlib.import_module(module_name)
    *parents, attr = attr_path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    real = getattr(owner, attr)
    calls = [0]

    def hooked(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == nth:
            _act(action, marker)
        return real(*args, **kwargs)

    setattr(owner, attr, hooked)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--at")
    parser.add_argument("--then", default="kill")
    parser.add_argument("--marker")
    parser.add_argument("--count")
    options, rest = parser.parse_known_args()
    args = rest[1:] if rest[:1] == ["--"] else rest
    if args[:1] == ["download"]:
        import asf_search

        asf_search.REPORT_ERRORS = False  # never report the fakes' answers to ASF
    point = options.at.split(":") if options.at else ["rename", "0"]
    if point[0] == "rename":
        _patch_renames(
            int(point[1]), point[2] if len(point) > 2 else None, options.then, options.marker
        )
    elif point[0] == "call":
        _patch_call(point[1], point[2], int(point[3]), options.then, options.marker)
    from glaciermap.cli.main import main as cli

    code = cli(args)
    if options.count:
        Path(options.count).write_text(str(_renames[0]))
    sys.exit(code)


if __name__ == "__main__":  # spawned workers import this module again, as __mp_main__
    main()
