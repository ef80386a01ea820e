"""`make bench`: seed a scratch PostgreSQL database, serve it with gunicorn on the production
settings, measure the pages under load with wrk, then the My Cases SQL, routing and worker
memory. Ratios come from one run (this machine's absolute speed varies between runs).

    .venv/bin/python bench/run.py --cases 20000                      # quick
    .venv/bin/python bench/run.py --cases 1000000 --ratio-cases 100000  # full

Traffic goes only to 127.0.0.1; every loop is bounded in count and in time (--max-minutes).
Results: one table on stdout, ending with the `bench: ...` line, and .bench/last.json.
"""

import argparse
import http.cookiejar
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench"
VENV_BIN = Path(sys.executable).parent
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_PASSWORD = "bench-password-0123"  # noqa: S105  (seed_bench's default, scratch data)

TARGETS = {  # the design's targets (shared/DESIGN.md, Targets)
    "mycases_b1": 0.50,
    "sql_p95_ms": 2.0,
    "size_ratio": 1.2,
    "route_cps": 200,
    "rss_mb": 200,
}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Processes -------------------------------------------------------------------------------


def run(cmd, env, logfile: Path, timeout: float) -> str:
    """Run a command to completion within `timeout` seconds, its output kept in logfile."""
    with open(logfile, "a") as out:
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
        proc = subprocess.run(  # noqa: S603  (our own tools, no shell)
            [str(c) for c in cmd],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            timeout=timeout,
            check=False,
        )
        out.write(proc.stdout)
    if proc.returncode != 0:
        tail = logfile.read_text().splitlines()[-15:]
        raise BenchError(f"{cmd[1] if len(cmd) > 1 else cmd[0]} failed:\n" + "\n".join(tail))
    return proc.stdout


def manage(args, env, timeout=900) -> str:
    return run([sys.executable, "manage.py", *args], env, OUT / "bench.log", timeout)


class Server:
    """gunicorn with sync workers on 127.0.0.1:port, stopped by its own pid."""

    def __init__(self, name: str, port: int, env: dict, workers: int):
        self.name, self.port, self.env, self.workers = name, port, env, workers
        self.base = f"http://127.0.0.1:{port}"
        self.proc = None
        self.logfile = OUT / f"gunicorn-{name}.log"

    def start(self, timeout: float = 60) -> None:
        self.logfile.write_text("")
        gunicorn = VENV_BIN / "gunicorn"
        cmd = [
            str(gunicorn),
            "casesite.wsgi:application",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        out = open(self.logfile, "a")  # noqa: SIM115  (kept open for the server's life)
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited; see {self.logfile}")
            try:
                status, _, _ = http_get(self.base + "/healthz", timeout=2)
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise BenchError(f"gunicorn did not answer on {self.base} within {timeout}s")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid:
                children.append(int(entry.name))
        return sorted(children)

    def worker_cpu_seconds(self) -> float:
        total = 0
        for pid in self.worker_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        return total / CLOCK_TICKS

    def wait_idle(self, timeout: float = 60) -> float:
        """Wait until the workers stop using CPU: requests that wrk sent before it stopped
        (a slow page's) are still being served and would steal the next run's CPU. The
        seconds waited."""
        started = time.monotonic()
        last = self.worker_cpu_seconds()
        quiet = 0
        while time.monotonic() - started < timeout:
            time.sleep(0.1)
            now = self.worker_cpu_seconds()
            quiet = quiet + 1 if now - last <= 0.02 else 0
            last = now
            if quiet >= 3:
                break
        return time.monotonic() - started

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return sizes

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


# HTTP ------------------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _opener(jar=None):
    handlers = [NoRedirect()]
    if jar is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(jar))
    return urllib.request.build_opener(*handlers)


def http_get(url: str, cookie: str = "", timeout: float = 30, opener=None):
    if urllib.parse.urlsplit(url).hostname not in LOCAL_HOSTS:
        raise BenchError(f"refusing traffic to a host that is not local: {url}")
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})  # noqa: S310
    try:
        with (opener or _opener()).open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode(errors="replace")


def sign_in(base: str, login_path: str, username: str, password: str) -> str:
    """Sign in through the real form; the Cookie header of the signed-in session."""
    jar = http.cookiejar.CookieJar()
    opener = _opener(jar)
    status, _, page = http_get(base + login_path, opener=opener)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if status != 200 or not match:
        raise BenchError(f"no sign-in form at {login_path} ({status})")
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        base + login_path, data=data, headers={"Referer": base + login_path}
    )
    try:
        with opener.open(request, timeout=60) as response:
            status, location = response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        status, location = error.code, error.headers.get("Location", "")
    if status != 302:
        raise BenchError(f"sign-in of {username} answered {status}, not a redirect")
    if "mfa" in location:
        raise BenchError(f"sign-in of {username} asks for two-step verification ({location})")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


# Load ------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def wrk(base: str, targets: list[tuple[str, str]], seconds: float, connections: int) -> dict:
    """One wrk run over the (path, cookie) targets; requests/s, latencies, failures."""
    if urllib.parse.urlsplit(base).hostname not in LOCAL_HOSTS:
        raise BenchError(f"refusing load on a host that is not local: {base}")
    path = OUT / "targets.tsv"
    path.write_text("".join(f"{p}\t{c}\n" for p, c in targets))
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "rotate.lua"),
        base,
        "--",
        str(path),
    ]
    proc = subprocess.run(  # noqa: S603
        cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    text = proc.stdout
    if proc.returncode != 0:
        raise BenchError(f"wrk failed: {proc.stderr.strip() or text}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        result[f"p{pct}_ms"] = _ms(match.group(1)) if match else float("nan")
    match = re.search(r"(\d+) requests in", text)
    result["requests"] = int(match.group(1)) if match else 0
    errors = re.search(r"Socket errors: (.*)", text)
    bad = re.search(r"not_200: (\d+)", text)
    result["not_200"] = int(bad.group(1)) if bad else 0
    result["socket_errors"] = errors.group(1).strip() if errors else ""
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# Database ----------------------------------------------------------------------------------


def _connect(url: str, dbname: str):
    import psycopg2

    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS:
        raise BenchError(f"refusing a database server that is not local: {parts.hostname}")
    conn = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password or "") or None,
        dbname=dbname,
    )
    conn.autocommit = True
    return conn


def recreate_database(url: str) -> str:
    """Drop and create the scratch database; the server's version."""
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    if not re.fullmatch(r"(caseworks_bench|cw_bench)\w*", name):
        raise BenchError(f"refusing to drop {name!r}: scratch names start with caseworks_bench")
    conn = _connect(url, "postgres")
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return server_version(url)


def wait_for_autovacuum(url: str, timeout: float = 120) -> dict:
    """Wait until no autovacuum worker has run for a second and a half (they run on the
    other core and slow single statements down by half). What was waited for."""
    conn = _connect(url, "postgres")
    started = time.monotonic()
    seen, quiet = set(), 0
    try:
        with conn.cursor() as cur:
            while time.monotonic() - started < timeout and quiet < 3:
                cur.execute(
                    "SELECT datname, query FROM pg_stat_activity "
                    "WHERE backend_type = 'autovacuum worker'"
                )
                rows = cur.fetchall()
                seen.update(f"{db}: {query[:80]}" for db, query in rows)
                quiet = 0 if rows else quiet + 1
                time.sleep(0.5)
    finally:
        conn.close()
    return {"waited_s": round(time.monotonic() - started, 1), "autovacuum": sorted(seen)}


def checkpoint(url: str) -> float | None:
    """CHECKPOINT (needs a superuser; None when refused). Its duration."""
    import psycopg2

    started = time.monotonic()
    conn = _connect(url, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
    except psycopg2.Error as error:
        log(f"no CHECKPOINT before the load ({error.pgerror or error})")
        return None
    finally:
        conn.close()
    seconds = time.monotonic() - started
    log(f"checkpoint: {seconds:.1f} s")
    return round(seconds, 1)


def server_version(url: str) -> str:
    conn = _connect(url, urllib.parse.urlsplit(url).path.lstrip("/"))
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
    conn.close()
    return version


def bench_env(database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
            "DEBUG": "0",
            # The production settings plus the benchmark's app (B0, B1, seed_bench, ...).
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "BEHIND_TLS_PROXY": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            # Two-step verification is for people; the bench signs in agency users by form.
            "MFA_REQUIRED_FOR": "",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.pop("STATICFILES_BACKEND", None)  # production static files (manifest, collectstatic)
    return env


def probe(env, *args, timeout=900) -> dict:
    probe_env = dict(env, ALLOWED_HOSTS="127.0.0.1,testserver")
    out = run([sys.executable, "bench/probe.py", *args], probe_env, OUT / "bench.log", timeout)
    return json.loads(out)


def prepare(url: str, cases: int, seed: int, agents: int | None, env: dict) -> dict:
    log(f"database {urllib.parse.urlsplit(url).path.lstrip('/')}: recreate, migrate, seed")
    version = recreate_database(url)
    manage(["migrate", "--no-input", "-v0"], env)
    started = time.monotonic()
    args = ["seed_bench", "--cases", str(cases), "--seed", str(seed)]
    if agents:
        args += ["--agents", str(agents)]
    out = manage(args, env, timeout=1800)
    seconds = time.monotonic() - started
    log(out.strip().splitlines()[-1] if out.strip() else "seeded")
    return {"server_version": version, "seed_seconds": round(seconds, 1), "seed_output": out}


# Routing -----------------------------------------------------------------------------------


def routing(env: dict, timeout: float, cases: int) -> dict:
    """Cases/s of automatic routing at 1 and 2 processes, from `manage.py bench_routing`
    (it makes its own bench-* cases, agents and rules, checks that no case was assigned
    twice, and removes its cases)."""
    commands = list(ROOT.glob("*/management/commands/bench_routing.py"))
    if not commands:
        return {"status": "n/a", "why": "no `manage.py bench_routing` command in this tree"}
    result = {"status": "ok", "output": ""}
    for procs in (1, 2):
        try:
            out = manage(
                ["bench_routing", "--cases", str(cases), "--processes", str(procs)],
                env,
                timeout=timeout,
            )
        except (BenchError, subprocess.TimeoutExpired) as error:
            return {"status": "failed", "why": str(error)[-600:], **result}
        result["output"] += out
        match = re.search(
            r"(\d+) process(?:es)?: (\d+) of (\d+) cases routed in ([\d.]+) s = (\d+) "
            r"cases/s in total, (\d+) cases/s per process",
            out,
        )
        if not match:
            return {"status": "failed", "why": "no throughput line in: " + out[-400:], **result}
        result[f"cps_{procs}"] = float(match.group(6))
        result[f"total_cps_{procs}"] = float(match.group(5))
        result[f"routed_{procs}"] = f"{match.group(2)}/{match.group(3)}"
        check = re.search(r"^check: .*$", out, re.M)
        result[f"check_{procs}"] = check.group(0) if check else None
    return result


# Main ----------------------------------------------------------------------------------------


def machine() -> dict:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def fmt(value, digits=1, suffix=""):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def verdict(ok) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/caseworks_bench"
        ),
    )
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--ratio-cases", type=int, default=0, help="also seed this size")
    parser.add_argument("--agents", type=int, help="partner agents (default cases/100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--users", type=int, default=24, help="partner agents signed in")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5, help="per endpoint per round")
    parser.add_argument("--soak-rounds", type=int, default=4)
    parser.add_argument("--sql-repeat", type=int, default=60)
    parser.add_argument("--detail-path", default="/portal/cases/{pk}/")
    parser.add_argument("--route-cases", type=int, default=2000, help="for bench_routing")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded databases")
    parser.add_argument("--max-minutes", type=float, default=60)
    args = parser.parse_args()

    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench does it)")
    OUT.mkdir(exist_ok=True)
    (OUT / "bench.log").write_text("")
    deadline = time.monotonic() + args.max_minutes * 60
    started_at = datetime.now(UTC)

    def check_time():
        if time.monotonic() > deadline:
            raise BenchError(f"over --max-minutes={args.max_minutes}")

    main_url = args.database_url
    env = bench_env(main_url)
    sizes = [("main", main_url, args.cases)]
    if args.ratio_cases:
        parts = urllib.parse.urlsplit(main_url)
        ratio_url = parts._replace(path=parts.path + "_ratio").geturl()
        sizes.append(("ratio", ratio_url, args.ratio_cases))

    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "args": vars(args),
        "sizes": {},
    }
    servers: dict[str, Server] = {}
    try:
        for name, url, cases in sizes:
            size_env = bench_env(url) | {"SECRET_KEY": env["SECRET_KEY"]}
            if args.reuse:
                manage(["migrate", "--no-input", "-v0"], size_env)
                info = {"reused": True, "server_version": server_version(url)}
            else:
                info = prepare(url, cases, args.seed, args.agents, size_env)
            info.update({"cases": cases, "url": url})
            report["sizes"][name] = info
        # Write the seeded gigabytes out now, not during the measurements (a checkpoint
        # spreads its writes over minutes and would slow the first rounds).
        report["checkpoint_s"] = checkpoint(main_url)
        log("collectstatic")
        manage(["collectstatic", "--no-input", "-v0"], env)
        report["postgresql"] = report["sizes"]["main"].get("server_version")

        sessions = {}
        for offset, (name, url, _cases) in enumerate(sizes):
            size_env = bench_env(url) | {"SECRET_KEY": env["SECRET_KEY"]}
            server = Server(name, args.port + offset, size_env, args.workers)
            servers[name] = server
            server.start()
            plan = probe(size_env, "targets", "--users", str(args.users))
            log(f"{name}: signing in {len(plan['users'])} partner agents and the agency user")
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                cookies = list(
                    pool.map(
                        lambda u, s=server: sign_in(
                            s.base, "/portal/login/", u["username"], BENCH_PASSWORD
                        ),
                        plan["users"],
                    )
                )
            agency = (
                sign_in(server.base, "/login/", plan["agency_user"], BENCH_PASSWORD)
                if plan["agency_user"]
                else ""
            )
            sessions[name] = {"plan": plan, "cookies": cookies, "agency": agency, "env": size_env}
            report["sizes"][name]["plan"] = plan
        # My Cases through the plain ORM path (BENCH_MY_CASES=orm), on the main database
        # with the same sessions: measured beside the compiled statements in the same rounds.
        orm_env = sessions["main"]["env"] | {"BENCH_MY_CASES": "orm"}
        servers["orm"] = Server("orm", args.port + len(sizes), orm_env, args.workers)
        servers["orm"].start()

        # Endpoints: (label, server, targets).
        main_plan = sessions["main"]["plan"]
        cookies = sessions["main"]["cookies"]
        detail_targets = [
            (args.detail_path.format(pk=u["case"]), c)
            for u, c in zip(main_plan["users"], cookies, strict=True)
            if u["case"]
        ]
        endpoints = {
            "B0": ("main", [("/bench/b0/", "")]),
            "B1": ("main", [("/portal/bench/b1/", c) for c in cookies]),
            "mycases": ("main", [("/portal/", c) for c in cookies]),
            "mycases-orm": ("orm", [("/portal/", c) for c in cookies]),
            "detail": ("main", detail_targets),
            "caseslist": ("main", [("/cases/", sessions["main"]["agency"])]),
        }
        if "ratio" in sessions:
            ratio_cookies = sessions["ratio"]["cookies"]
            endpoints["mycases@ratio"] = ("ratio", [("/portal/", c) for c in ratio_cookies])
            endpoints["B1@ratio"] = ("ratio", [("/portal/bench/b1/", c) for c in ratio_cookies])

        # Every target answers 200 before any load; an endpoint that does not is n/a.
        notes = {}
        for label, (server_name, targets) in list(endpoints.items()):
            base = servers[server_name].base
            problems = []
            for path, cookie in targets or [("(none)", "")]:
                if path == "(none)":
                    problems.append("no target")
                    break
                status, headers, _ = http_get(base + path, cookie)
                if status != 200:
                    problems.append(f"{path} answered {status} {headers.get('Location', '')}")
                    break
            if problems:
                notes[label] = problems[0]
                log(f"{label}: skipped ({problems[0]})")
                del endpoints[label]
        # Is My Cases the real page (rows with case numbers) or still a placeholder?
        heaviest_cookie = cookies[0]
        _, _, page = http_get(servers["main"].base + "/portal/", heaviest_cookie)
        real_my_cases = "SEED-" in page
        if not real_my_cases:
            notes["mycases"] = "placeholder page: no case rows in the heaviest agent's My Cases"

        # Warm-up, then interleaved rounds (the order turns each round).
        labels = list(endpoints)
        log(f"warm-up: {', '.join(labels)}")

        def settle() -> None:
            for server in servers.values():
                waited = server.wait_idle()
                settled.append(round(waited, 2))

        settled: list[float] = []
        for label in labels:
            server_name, targets = endpoints[label]
            wrk(servers[server_name].base, targets, 2, args.connections)
            settle()
        samples = {label: [] for label in labels}
        for round_no in range(args.rounds):
            check_time()
            order = labels[round_no % len(labels) :] + labels[: round_no % len(labels)]
            for label in order:
                server_name, targets = endpoints[label]
                result = wrk(servers[server_name].base, targets, args.seconds, args.connections)
                samples[label].append(result)
                settle()
            log(
                f"round {round_no + 1}/{args.rounds}: "
                + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in samples.items())
            )

        def per_round_ratio(top, bottom):
            if top not in samples or bottom not in samples:
                return None
            return median(
                [a["rps"] / b["rps"] for a, b in zip(samples[top], samples[bottom], strict=True)]
            )

        summary = {}
        for label, runs in samples.items():
            summary[label] = {
                "rps": median([r["rps"] for r in runs]),
                "p50_ms": median([r["p50_ms"] for r in runs]),
                "p99_ms": median([r["p99_ms"] for r in runs]),
                "requests": sum(r["requests"] for r in runs),
                "not_200": sum(r["not_200"] for r in runs),
                "socket_errors": [r["socket_errors"] for r in runs if r["socket_errors"]],
            }
        ratios = {
            "mycases_b1": per_round_ratio("mycases", "B1"),
            "mycases_orm_b1": per_round_ratio("mycases-orm", "B1"),
            "detail_b1": per_round_ratio("detail", "B1"),
            "caseslist_b1": per_round_ratio("caseslist", "B1"),
            "b1_b0": per_round_ratio("B1", "B0"),
            # Same concurrency: latency(big) / latency(small) = rps(small) / rps(big).
            "size_ratio": per_round_ratio("mycases@ratio", "mycases"),
            "size_ratio_b1": per_round_ratio("B1@ratio", "B1"),
        }
        report["load"] = {
            "samples": samples,
            "summary": summary,
            "notes": notes,
            "settle_seconds": {"max": max(settled or [0]), "total": round(sum(settled), 1)},
        }
        report["ratios"] = ratios
        report["real_my_cases"] = real_my_cases

        # Worker memory after the load, then a soak of mixed traffic.
        rss_after_load = servers["main"].worker_rss_mb()
        soak_targets = [t for label in labels if "@" not in label for t in endpoints[label][1]]
        soak = []
        for _ in range(args.soak_rounds):
            check_time()
            wrk(servers["main"].base, soak_targets, args.seconds, args.connections)
            settle()
            soak.append(max(servers["main"].worker_rss_mb() or [0]))
        report["rss"] = {
            "after_load_mb": rss_after_load,
            "soak_max_mb": soak,
            "growth_mb": (soak[-1] - soak[0]) if len(soak) > 1 else None,
            "max_mb": max([*rss_after_load, *soak]) if (rss_after_load or soak) else None,
        }
        log(f"worker RSS {report['rss']['max_mb']:.0f} MB, soak {[round(s) for s in soak]}")

        # SQL: My Cases queries of the median and heaviest agents under EXPLAIN ANALYZE,
        # once autovacuum (woken by the load's writes) has stopped competing for the CPU.
        report["sql_settle"] = wait_for_autovacuum(main_url)
        for name, _url, _cases in sizes:
            check_time()
            log(f"{name}: My Cases SQL under EXPLAIN (ANALYZE, BUFFERS)")
            sql = probe(sessions[name]["env"], "sql", "--repeat", str(args.sql_repeat))
            report["sizes"][name]["sql"] = sql
        # Queries per page (one user, in-process).
        median_user = next(u for u in main_plan["users"] if u["rank"] == main_plan["agents"] // 2)
        pages = [
            f"{median_user['username']}=/portal/",
            f"{median_user['username']}=/portal/bench/b1/",
        ]
        if median_user["case"]:
            pages.append(
                f"{median_user['username']}=" + args.detail_path.format(pk=median_user["case"])
            )
        if main_plan["agency_user"]:
            agency = main_plan["agency_user"]
            pages += [f"{agency}={path}" for path in AGENCY_PAGES]
            if median_user["case"]:
                pk = median_user["case"]
                pages += [f"{agency}=/cases/{pk}/", f"{agency}=/cases/{pk}/team/"]
        report["queries"] = probe(sessions["main"]["env"], "queries", *pages)

        # Routing last: it changes the data.
        check_time()
        log("routing")
        report["routing"] = routing(
            sessions["main"]["env"],
            timeout=max(60, deadline - time.monotonic()),
            cases=args.route_cases,
        )
    finally:
        for server in servers.values():
            server.stop()

    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return finish(report)


# Agency pages timed one request at a time (not under load): the Cases List, the Referrals
# board unfiltered and with each of its state filters, the Assignment Manager; a case page
# and its Case Team tab are added with a case of the median agent.
REFERRAL_BOARD_FILTERS = (
    "pending",
    "overdue",
    "in_progress",
    "waitlisted",
    "escalated",
    "completed_week",
    "unassigned",
)
AGENCY_PAGES = (
    "/cases/",
    "/cases/referrals/",
    *(f"/cases/referrals/?state={state}" for state in REFERRAL_BOARD_FILTERS),
    "/cases/routing/",
)


def page_timings(queries: dict) -> list[str]:
    """The table of every probed page: queries, median ms of single requests, size (and the
    status when it is not 200)."""
    lines = [
        f"{'page (one request at a time, in process)':<44}{'queries':>8}{'p50 ms':>9}{'KB':>8}"
    ]
    for path, q in queries.items():
        if path == "probe_seconds" or q.get("ms_p50") is None:
            continue
        status = q.get("status", 200)
        lines.append(
            f"{path[:44]:<44}{q['queries']:>8}{q['ms_p50']:>9.1f}{q['bytes'] / 1024:>8.0f}"
            + (f"  answered {status}" if status != 200 else "")
        )
    return lines


def finish(report: dict) -> int:
    summary = report["load"]["summary"]
    ratios = report["ratios"]
    notes = report["load"]["notes"]
    main_sql = report["sizes"]["main"]["sql"]["subjects"]
    agents_sql = [s for s in main_sql if s["who"] != "busiest partner manager"]
    sql_p95 = max(s["sum_p95_ms"] for s in agents_sql)
    seq = sorted({r for s in agents_sql for r in s["large_seq_scans"]})
    tiny = sorted({r for s in agents_sql for r in s["seq_scans"]} - set(seq))
    routing_info = report["routing"]
    route_cps = routing_info.get("cps_1")
    rss = report["rss"]["max_mb"]
    queries = {
        path: q["queries"] for path, q in report["queries"].items() if path != "probe_seconds"
    }

    lines = []
    m = report["machine"]
    sizes = report["sizes"]
    lines.append(
        f"Caseworks bench, {report['started_at']}, {m['nproc']} cores, {m['memory_gb']} GB, "
        f"PostgreSQL {report.get('postgresql') or '?'}, "
        + ", ".join(f"{s['cases']:,} cases" for s in sizes.values())
    )
    lines.append("")
    lines.append(
        f"{'page':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs B1':>8}{'queries':>9}  note"
    )
    page_paths = {
        "B0": "/bench/b0/",
        "B1": "/portal/bench/b1/",
        "mycases": "/portal/",
        "caseslist": "/cases/",
    }
    labels = ("B0", "B1", "mycases", "mycases-orm", "detail", "caseslist", "mycases@ratio",
              "B1@ratio")  # fmt: skip
    for label in labels:
        row = summary.get(label)
        note = notes.get(label, "")
        qpath = page_paths.get(label)
        if label == "detail":
            qpath = next((p for p in queries if p.startswith("/portal/cases/")), None)
        qcount = queries.get(qpath) if qpath else None
        ratio = {
            "mycases": ratios["mycases_b1"],
            "mycases-orm": ratios.get("mycases_orm_b1"),
            "detail": ratios["detail_b1"],
            "caseslist": ratios["caseslist_b1"],
        }.get(label)
        if row is None:
            if label in notes:
                lines.append(f"{label:<16}{'n/a':>9}{'':>9}{'':>9}{'':>8}{'':>9}  {note}")
            continue
        if row["not_200"]:
            note = (note + f" {row['not_200']} answers not 200").strip()
        lines.append(
            f"{label:<16}{row['rps']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{fmt(ratio, 2):>8}{fmt(qcount):>9}  {note}"
        )
    lines.append("")
    head = "My Cases SQL (EXPLAIN ANALYZE)"
    lines.append(f"{head:<44}{'cases':>7}{'p50 ms':>9}{'p95 ms':>9}  seq scans")
    for size in sizes.values():
        for s in size["sql"]["subjects"]:
            who = f"{s['who']} @{size['cases']:,}"
            scans = [
                r if r in s["large_seq_scans"] else f"{r} ({s['seq_scan_sizes'][r]['rows']} rows)"
                for r in s["seq_scans"]
            ]
            lines.append(
                f"{who:<44}{s['active_cases']:>7}{s['sum_p50_ms']:>9.3f}{s['sum_p95_ms']:>9.3f}"
                f"  {', '.join(scans) or 'none'}"
            )
    lines.append("")
    size_ratio = ratios.get("size_ratio")
    size_label = "/".join(f"{s['cases'] // 1000}k" for s in sizes.values())
    sql_ratio = None
    if "ratio" in sizes:
        big = max(s["sum_p95_ms"] for s in sizes["main"]["sql"]["subjects"][:2])
        small = max(s["sum_p95_ms"] for s in sizes["ratio"]["sql"]["subjects"][:2])
        sql_ratio = big / small if small else None
    checks = [
        ("My Cases / B1 throughput", fmt(ratios["mycases_b1"], 2), ">= 0.50",
         verdict(None if ratios["mycases_b1"] is None else ratios["mycases_b1"] >= 0.50)),
        ("  same, plain ORM path", fmt(ratios.get("mycases_orm_b1"), 2), ">= 0.50",
         verdict(None if ratios.get("mycases_orm_b1") is None
                 else ratios["mycases_orm_b1"] >= 0.50)),
        ("case details / B1 throughput", fmt(ratios["detail_b1"], 2), ">= 0.40",
         verdict(None if ratios["detail_b1"] is None else ratios["detail_b1"] >= 0.40)),
        ("My Cases SQL p95 (sum of its queries)", fmt(sql_p95, 3, " ms"), "<= 2 ms",
         verdict(sql_p95 <= 2.0)),
        ("seq scans in My Cases SQL (large tables)", ", ".join(seq) or "none", "none",
         verdict(not seq)),
        (f"My Cases latency {size_label}", fmt(size_ratio, 2), "<= 1.2",
         verdict(None if size_ratio is None else size_ratio <= 1.2)),
        ("  same, SQL p95", fmt(sql_ratio, 2), "", ""),
        ("routing cases/s, 1 process", fmt(route_cps, 0), ">= 200",
         verdict(None if route_cps is None else route_cps >= 200)),
        ("routing cases/s per process, 2 processes", fmt(routing_info.get("cps_2"), 0),
         ">= 200", verdict(None if routing_info.get("cps_2") is None
                           else routing_info["cps_2"] >= 200)),
        ("worker RSS max", fmt(rss, 0, " MB"), "<= 200 MB", verdict(rss <= 200)),
        ("worker RSS growth over the soak", fmt(report["rss"]["growth_mb"], 1, " MB"), "~0", ""),
    ]  # fmt: skip
    timings = page_timings(report["queries"])
    if len(timings) > 1:
        lines += [*timings, ""]
    lines.append(f"{'target':<44}{'measured':>14}  {'goal':<10}result")
    for name, value, goal, result in checks:
        lines.append(f"{name:<44}{value:>14}  {goal:<10}{result}")
    if tiny:
        lines.append(
            "note: sequential reads of tiny lookup tables (one page, cheaper than an index): "
            + ", ".join(tiny)
        )
    control = {
        path: q["transaction_control"]
        for path, q in report["queries"].items()
        if path != "probe_seconds" and q.get("transaction_control")
    }
    lines.append(
        "note: queries = SQL statements of one request in a warm worker"
        + (
            "; transaction control not counted ("
            + ", ".join(f"{path} +{n}" for path, n in control.items())
            + ")"
            if control
            else ""
        )
    )
    settle = report["load"].get("settle_seconds") or {}
    if settle.get("max", 0) >= 0.5:
        lines.append(
            f"note: after each load run the workers were let finish the requests wrk had sent "
            f"(up to {settle['max']:.1f} s) before the next run"
        )
    sql_settle = report.get("sql_settle") or {}
    if sql_settle.get("autovacuum"):
        lines.append(
            f"note: the SQL was timed after autovacuum finished ({sql_settle['waited_s']:.0f} s): "
            + "; ".join(sql_settle["autovacuum"])[:200]
        )
    if routing_info.get("status") != "ok":
        lines.append(f"routing: {routing_info.get('status')} ({routing_info.get('why')})")
    for label, note in notes.items():
        if label not in summary:
            continue
        lines.append(f"note: {label}: {note}")
    final = (
        f"bench: mycases/B1={fmt(ratios['mycases_b1'], 2)} "
        f"mycases_orm/B1={fmt(ratios.get('mycases_orm_b1'), 2)} "
        f"detail/B1={fmt(ratios['detail_b1'], 2)} "
        f"sql_p95_ms={fmt(sql_p95, 3)} route_cps={fmt(route_cps, 0)} rss_mb={fmt(rss, 0)}"
    )
    lines.append("")
    lines.append(final)
    text = "\n".join(lines)
    print(text, flush=True)
    report["table"] = text
    stamp = report["started_at"].replace(":", "").replace("-", "")[:15]
    for path in (OUT / f"results-{stamp}.json", OUT / "last.json"):
        path.write_text(json.dumps(report, indent=1, default=str))
    # The one hard assertion: no sequential scan in the agents' My Cases SQL.
    return 1 if seq else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:  # print the table of a saved run again
        sys.exit(
            finish(json.loads(Path(sys.argv[2] if sys.argv[2:] else OUT / "last.json").read_text()))
        )
    try:
        sys.exit(main())
    except BenchError as error:
        log(f"FAILED: {error}")
        sys.exit(2)
