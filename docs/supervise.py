"""Run one command per worker and restart each one that fails, as a cluster scheduler would.

A local stand-in for Kubernetes' ``restartPolicy: OnFailure`` (or a Slurm batch script that runs
``srun`` again): a worker that exits with a non-zero status, or is killed, is started again at once
with the same command, up to ``--max-restarts`` times in all; the others are left running. Every
worker of a ``--strategy multiworker`` job runs the same ``keras-classics train`` command, so the
restarted workers continue the run from its last checkpoint (docs/training.md, "Several machines").

Usage (each command is one shell string, e.g. ``TF_CONFIG=... keras-classics train ...``)::

    python docs/supervise.py [--max-restarts N] 'COMMAND OF WORKER 0' 'COMMAND OF WORKER 1' ...

Exit status: 0 once every worker has exited with status 0; 1 when the restarts ran out (the
remaining workers are stopped). Each start and exit is printed with its time (seconds since
the epoch), for the tests that measure the recovery.
"""

import argparse
import os
import signal
import subprocess
import sys
import time


def supervise(commands, max_restarts=5, poll_s=0.1) -> int:
    """Run ``commands`` (shell strings), restarting each that fails; return the exit status above."""
    def start(i):
        print(f"supervise: {time.time():.3f} start worker {i}", flush=True)
        return subprocess.Popen(commands[i], shell=True, start_new_session=True)  # its own group: see below

    running = {i: start(i) for i in range(len(commands))}
    restarts = 0
    try:
        while running:
            for i, proc in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                print(f"supervise: {time.time():.3f} worker {i} exited with status {code}", flush=True)
                del running[i]
                if code == 0:
                    continue
                if restarts == max_restarts:
                    print(f"supervise: {max_restarts} restart(s) used up; stopping the other workers", flush=True)
                    return 1
                restarts += 1
                running[i] = start(i)
            time.sleep(poll_s)
        return 0
    finally:  # restarts used up, Ctrl-C or SIGTERM: no worker (nor what its shell started) outlives this
        for proc in running.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="+", metavar="COMMAND", help="one shell command per worker")
    parser.add_argument("--max-restarts", type=int, default=5, metavar="N",
                        help="restarts allowed over all workers together (default: 5)")
    args = parser.parse_args(argv)
    if args.max_restarts < 0:
        parser.error(f"--max-restarts must be 0 or more; received {args.max_restarts}.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the workers too, as on Ctrl-C
    return supervise(args.commands, args.max_restarts)


if __name__ == "__main__":
    sys.exit(main())
