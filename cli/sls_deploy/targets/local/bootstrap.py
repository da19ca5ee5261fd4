"""The program a worker runs inside the function's runtime interpreter: `python -S bootstrap.py HANDLER`.

It starts awslambdaric as Lambda's bootstrap does (`python -m awslambdaric HANDLER`), except that:

- The runtime waits for events on its main thread. On python3.12+ awslambdaric polls GET /next from a new
  thread for every invocation (so signal handlers can run while it is idle); on a 2-core machine that
  thread's start and hand-back cost 0.3–0.7 ms per warm invoke, more than everything else together. What the
  function sees is unchanged (AWS_EXECUTION_ENV, JSON marshalling, context); only a Python signal handler it
  installs runs when the next event arrives instead of while idle. awslambdaric is pinned (runtime_dir.py).
- A runtime that exits by itself (its Runtime API vanished: the server was killed without stopping its
  workers) leaves its memory cgroup (and its cgroup v1 cpu cgroup) and removes it, and its server's folder
  once empty, so a hard-killed server leaves no empty cgroup folders behind (sandbox.py creates them).

It runs in the runtime's Python (any version Lambda offers), imports only the standard library and
awslambdaric, and never imports sls_deploy. Run as a script, its own folder would lead sys.path; the
function's working directory takes that place instead, as for `python -c`.

Side effects: runs the function's runtime; on exit, moves itself out of its cgroups and removes them.
"""

import atexit
import os
import sys


def _leave(controller: str, roots: tuple[str, ...]) -> None:
    """Move this process to its server's parent cgroup of `controller` and remove its own cgroup (and the
    server's folder once the server is gone)."""
    try:
        with open("/proc/self/cgroup") as lines:
            path = next(
                line.split(":", 2)[2].strip()
                for line in lines
                if controller in line.split(":")[1].split(",") or line.split(":")[1] == ""
            )
        group = next(root + path for root in roots if os.path.isdir(root + path))
        owner = os.path.dirname(group)
        if not os.path.basename(owner).startswith("sls-deploy-"):
            return
        with open(os.path.join(os.path.dirname(owner), "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
        os.rmdir(group)
        try:  # the server's folder too, once its server is gone (or a zombie) and no other worker is left
            with open("/proc/" + owner.rsplit("-", 1)[1] + "/stat") as stat:
                gone = stat.read().rsplit(")", 1)[1].split()[0] in "ZX"
        except FileNotFoundError:
            gone = True
        if gone:
            os.rmdir(owner)
    except (OSError, StopIteration, IndexError):
        pass


def _leave_cgroups() -> None:
    _leave("memory", ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"))
    _leave("cpu", ("/sys/fs/cgroup/cpu",))


def main() -> None:
    sys.path[0] = ""  # the working directory (the function's code), not this file's folder
    from awslambdaric import __main__ as ric
    from awslambdaric import lambda_config

    if hasattr(lambda_config.LambdaConfigProvider, "_parse_thread_polling"):
        lambda_config.LambdaConfigProvider._parse_thread_polling = lambda self: False
    atexit.register(_leave_cgroups)
    ric.main(sys.argv)


if __name__ == "__main__":
    main()
