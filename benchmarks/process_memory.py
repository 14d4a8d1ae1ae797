"""Memory of a server as the machine pays for it: PSS summed over its processes.

PSS (proportional set size) shares each page among the processes that map it, so summing it
over a process tree (a server and its workers) neither misses workers nor counts twice the
pages they share, as summing RSS would.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it, read from /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def pss_mb(pids: list[int]) -> float:
    """Summed PSS of `pids` in MB (from /proc/<pid>/smaps_rollup; ended processes count 0)."""
    total_kb = 0
    for pid in pids:
        try:
            rollup = (PROC / str(pid) / "smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total_kb += int(line.split()[1])
                break
    return total_kb * 1024 / 1e6
