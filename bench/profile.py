"""Profile one worker draining a backlog with py-spy, and say where its time goes.

    python -m bench.profile                       # this project's worker, 2,000 invitations, SMTP 0 ms
    python -m bench.profile --system celery --smtp 150,200 --count 300
    python -m bench.profile --system web --count 500   # daphne answering POST /invites/new/
    python -m bench.profile --gil                 # CPU only: whatever thread holds the GIL

Writes bench/results/profile-<system>.txt (and the raw py-spy stacks next to the logs). The
profiled run is slower than an unprofiled one: read the shares, not the rate.
The web profile's "share of its thread" counts the request threads' idle time between
requests too (a pool of them serves the requests in turn): read the steps. With --gil,
py-spy samples only the thread holding the GIL, in the whole process (event loop included):
where the one core a Python process can use goes.
"""

import argparse
import signal
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import PYTHON, Config, Harness
from bench.procs import Process
from bench.run import FULL, RESULTS

# Where a sample of the delivery handler is spent: the first of these found walking up from
# the innermost frame names its bucket.
BUCKETS = [
    ("MIME: the email package building and serialising the message", ("(email/",)),
    ("rendering the templates", ("(django/template/",)),
    ("SMTP: smtplib and its socket", ("(smtplib.py",)),
    ("PostgreSQL: psycopg, waiting for the server", ("(psycopg/",)),
    ("Django ORM: building queries and rows", ("(django/db/",)),
    ("channel layer and Redis", ("(channels_redis/", "(redis/")),
    ("logging", ("(logging/",)),
    ("asgiref: a sync thread waiting for the event loop", ("(asgiref/",)),
    ("asyncio: the event loop", ("(asyncio/",)),
]
# The frames through which sync_to_async calls into a thread's work.
SYNC_TO_ASYNC_ENTRY = ("SyncToAsync.__call__.<locals>.func", "SyncToAsync.thread_handler")
HANDLERS = {"project": "invitations_deliver", "celery": "send_invitation", "web": "invitation_new"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=sorted(HANDLERS), default="project")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--smtp", default="0,0", help="connection,message delays in ms")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    return parser.parse_args()


def record(h: Harness, output: Path, rate: int, *, gil: bool):
    spies: list[Process] = []

    def attach(workers: list[Process]) -> None:
        for worker in workers:
            args = ["record", "--pid", str(worker.pid), "--rate", str(rate), "--threads"]
            args += ["--gil"] if gil else ["--idle"]
            args += ["--nonblocking", "--format", "raw", "--output", str(output)]
            spies.append(h.processes.start("py-spy", [str(Path(PYTHON).parent / "py-spy"), *args], h.env))

    return attach, spies


def summarise(raw: Path, handler: str, title: str, *, gil: bool = False) -> str:
    stacks = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    if gil:
        handling, scope = stacks, "the process's GIL-holding time"
        header = f"Samples holding the GIL: {sum(stacks.values())}, in every thread of the process."
    else:
        thread_of = {stack: stack.split(";", 1)[0] for stack in stacks}
        handling = Counter({stack: count for stack, count in stacks.items() if f"{handler} (" in stack})
        threads = {thread_of[stack] for stack in handling}
        thread_total = sum(count for stack, count in stacks.items() if thread_of[stack] in threads)
        scope = "the handler's wall time (idle waits count where they happen)"
        header = (
            f"Samples in `{handler}`: {sum(handling.values())} = "
            f"{100 * sum(handling.values()) / max(thread_total, 1):.0f} % of its thread's "
            "wall time (the rest: waiting for and dispatching the next message)."
        )
    total = sum(handling.values()) or 1
    buckets, leaves, steps = Counter(), Counter(), Counter()
    for stack, count in handling.items():
        frames = stack.split(";")
        leaves[frames[-1]] += count
        buckets[_bucket(frames)] += count
        steps[_step(frames, handler)] += count
    lines = [title, "", header, "", f"Share of {scope}:"]
    lines += [f"  {100 * count / total:5.1f} %  {name}" for name, count in buckets.most_common()]
    lines += ["", f"By step of `{handler}` (the line it is on, and what that line called):"]
    lines += [f"  {100 * count / total:5.1f} %  {step}" for step, count in steps.most_common(12)]
    lines += ["", "Innermost frames, top 15:"]
    lines += [f"  {100 * count / total:5.1f} %  {frame}" for frame, count in leaves.most_common(15)]
    return "\n".join(lines) + "\n"


def _step(frames: list[str], handler: str) -> str:
    for index, frame in enumerate(frames):
        if frame.startswith(f"{handler} ("):
            line = frame.rsplit(":", 1)[-1].rstrip(")")
            callee = frames[index + 1].split(" (", 1)[0] if index + 1 < len(frames) else "(its own code)"
            return f"line {line}: {callee}"
    return "outside the handler"


def _bucket(frames: list[str]) -> str:
    for frame in reversed(frames):
        if frame.startswith(SYNC_TO_ASYNC_ENTRY):
            break  # where a sync_to_async thread starts its work: what runs above is not asgiref's
        for name, needles in BUCKETS:
            if any(needle in frame for needle in needles):
                return name
    return "other (the handler's own code, the consumer, the interpreter)"


def profile_workers(h: Harness, args: argparse.Namespace, smtp: tuple, attach) -> str:
    from bench.scenarios import drain

    name = f"profile-{args.system}"
    result = drain(h, system=args.system, count=args.count, workers=1, smtp=smtp, name=name, on_ready=attach)
    return f"one {args.system} worker draining {args.count:,} invitations: {result['throughput']:.0f}/s"


def profile_web(h: Harness, args: argparse.Namespace, smtp: tuple, attach) -> str:
    """This project's daphne answering POST /invites/new/ one at a time, its worker running."""
    from bench.client import PostLoad, Session
    from bench.harness import PRODUCT_SETTINGS, STAFF_PASSWORD, STAFF_USER

    h.reset()
    h.sink.configure(connection_ms=smtp[0], message_ms=smtp[1])
    web, port = h.start_web(PRODUCT_SETTINGS, "profile-web")
    workers = h.start_workers("project", 1, "profile-web-worker", queue_knobs=False)
    try:
        session = Session(port)
        session.login(STAFF_USER, STAFF_PASSWORD)
        token = session.form_token("/invites/new/")
        load = PostLoad(
            port=port, path="/invites/new/", cookies=session.cookies, token=token, label="profile"
        )
        session.close()
        attach([web])
        run = load.run(total=args.count, concurrency=1, deadline_s=60 + args.count)
    finally:
        h.processes.stop(*workers, web)
    answered = len(run["latencies"])
    return f"daphne answering {answered:,} POST /invites/new/ one at a time: {answered / run['wall_s']:.0f}/s"


def main() -> int:
    args = parse_args()
    smtp = tuple(float(part) for part in args.smtp.split(","))
    started = datetime.now(UTC)
    log_dir = RESULTS / "logs" / f"profile-{started:%Y%m%d-%H%M%S}"
    log_dir.mkdir(parents=True, exist_ok=True)
    raw = log_dir / f"py-spy-{args.system}.txt"
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with ExitStack() as stack:
        h = Harness(Config(repeats=1, sizes=FULL, scenarios=[], log_dir=log_dir), stack)
        attach, spies = record(h, raw, args.rate, gil=args.gil)
        profiled = (profile_web if args.system == "web" else profile_workers)(h, args, smtp, attach)
        for spy in spies:  # py-spy writes its file once the process it watches has exited
            try:
                spy.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.popen.send_signal(signal.SIGINT)
    title = (
        f"py-spy profile of {profiled} while profiled; SMTP {smtp[0]:g} ms/connection + "
        f"{smtp[1]:g} ms/message; {started:%Y-%m-%d %H:%M} UTC."
    )
    text = summarise(raw, HANDLERS[args.system], title, gil=args.gil)
    (RESULTS / f"profile-{args.system}{'-gil' if args.gil else ''}.txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
