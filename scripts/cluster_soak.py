#!/usr/bin/env python3
"""Cluster soak (docs/cluster.md): 1 scheduler + 2 executors on 127.0.0.1 (ports 18050-18062),
CLIENTS loops of `query --cluster` compared byte for byte with local runs of the same query
and format, an executor killed (-9) every ~KILL seconds at a random moment and restarted
with its --work-dir, work folder sizes sampled every 2 s, jobs left running counted from the
scheduler's log at the end. Everything it starts is stopped at the end.

    FLOWLAKE_BIN=target/debug/flowlake CLIENTS=2 python3 scripts/cluster_soak.py SECONDS KILL OUT_DIR

The binary must be built with --features cluster. Cases: the 21 queries of
queries/batch.ndjson on data/, and two over a generated lake of 7 days x 60000 events, in
all four encodings."""
import json, os, random, signal, subprocess, sys, threading, time

BIN = os.path.abspath(os.environ.get("FLOWLAKE_BIN", "target/debug/flowlake"))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else "/tmp/flowlake-soak"
DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 20 * 60
KILL_EVERY = float(sys.argv[2]) if len(sys.argv) > 2 else 180
SCHED = 18050
EXECUTORS = {"executor-1": (18051, 18052), "executor-2": (18061, 18062)}
NICE = ["nice", "-n", "10"]
procs = {}


def spawn(name, args):
    log = open(f"{ROOT}/{name}.log", "ab")
    procs[name] = subprocess.Popen(NICE + [BIN] + args, stdout=subprocess.DEVNULL, stderr=log, cwd=REPO)


def start_executor(name):
    flight, grpc = EXECUTORS[name]
    spawn(name, ["executor", "--scheduler", f"127.0.0.1:{SCHED}", "--listen", f"127.0.0.1:{flight}",
                 "--grpc-port", str(grpc), "--concurrent-tasks", "2", "--work-dir", f"{ROOT}/work-{name}"])


def readyz():
    import socket
    try:
        s = socket.create_connection(("127.0.0.1", SCHED), timeout=2)
        s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")
    except OSError:
        return ""


def wait_ready(n, limit=120):
    start = time.time()
    while time.time() - start < limit:
        if f"ready: {n} executors" in readyz():
            return time.time() - start
        time.sleep(0.2)
    raise SystemExit(f"{n} executors did not register within {limit} s")


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


def main():
    os.makedirs(ROOT, exist_ok=True)
    # The cases: the 21 queries of queries/batch.ndjson on the sample lake, and the whole
    # interval of a generated lake of 7 days x 60000 events.
    cases = []
    for line in open(f"{REPO}/queries/batch.ndjson"):
        q = json.loads(line)
        path = f"{ROOT}/{q['name']}.json"
        json.dump(q["payload"], open(path, "w"))
        cases.append((q["name"], "data", q["organization_id"], q["workflow_id"], path))
    big = f"{ROOT}/big"
    if not os.path.exists(f"{big}/workflows.json"):
        subprocess.run([BIN, "generate", "--out", big, "--orgs", "1", "--days", "7", "--events-per-day", "60000"], check=True, capture_output=True)
    wf = next(w for w in json.load(open(f"{big}/workflows.json")) if w["type"] == "interaction")
    json.dump({"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-07"}}, open(f"{ROOT}/big-all.json", "w"))
    json.dump({"filters": [], "interval": {"start": "2026-03-02", "end": "2026-03-03"}, "target": "affected_goal_total"}, open(f"{ROOT}/big-agt.json", "w"))
    for name in ["big-all", "big-agt"]:
        cases.append((name, big, wf["organization_id"], wf["id"], f"{ROOT}/{name}.json"))
    formats = ["json", "ndjson", "csv", "arrow"]

    def run(case, fmt, cluster):
        name, lake, org, workflow, payload = case
        args = NICE + [BIN, "query", "--lake", lake, "--org", org, "--workflow", workflow, "--payload", payload, "--format", fmt]
        if cluster:
            args += ["--cluster", f"df://127.0.0.1:{SCHED}"]
        p = subprocess.run(args, capture_output=True, cwd=REPO, timeout=600)
        return p.returncode, p.stdout, p.stderr

    t0 = time.time()
    local = {}
    for case in cases:
        for fmt in formats:
            local[(case[0], fmt)] = run(case, fmt, False)
    print(f"local answers: {len(local)} in {time.time() - t0:.0f} s", flush=True)

    for name in list(EXECUTORS):
        os.makedirs(f"{ROOT}/work-{name}", exist_ok=True)
    spawn("scheduler", ["scheduler", "--listen", f"127.0.0.1:{SCHED}", "--executor-timeout", "15"])
    time.sleep(1)
    for name in EXECUTORS:
        start_executor(name)
    wait_ready(2)

    stats = {"queries": 0, "identical": 0, "unavailable_503": 0, "mismatch": 0, "kills": 0}
    sizes = {"max": 0}
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            total = sum(du(f"{ROOT}/work-{n}") for n in EXECUTORS)
            sizes["max"] = max(sizes["max"], total)
            stop.wait(2)

    threading.Thread(target=sampler, daemon=True).start()
    start = time.time()
    mismatches = []
    lock = threading.Lock()
    clients = int(os.environ.get("CLIENTS", "1"))

    def client(seed):
        rng = random.Random(seed)
        while time.time() - start < DURATION:
            case = rng.choice(cases)
            fmt = rng.choice(formats)
            got = run(case, fmt, True)
            want = local[(case[0], fmt)]
            with lock:
                stats["queries"] += 1
                if got == want:
                    stats["identical"] += 1
                elif got[0] == 8 and b'"cluster_unavailable"' in got[2]:
                    stats["unavailable_503"] += 1
                else:
                    stats["mismatch"] += 1
                    mismatches.append((case[0], fmt, got[0], want[0], got[2][:300], len(got[1]), len(want[1])))
                if stats["queries"] % 50 == 0:
                    print(f"[{time.time() - start:5.0f} s] {stats}, max work folders {sizes['max']} bytes", flush=True)

    workers = [threading.Thread(target=client, args=(7 + i,)) for i in range(clients)]
    for w in workers:
        w.start()
    victim = 0
    rng = random.Random(99)
    while time.time() - start < DURATION - KILL_EVERY / 2:
        time.sleep(KILL_EVERY * rng.uniform(0.7, 1.3))
        if time.time() - start >= DURATION - 20:
            break
        name = list(EXECUTORS)[victim % 2]
        victim += 1
        procs[name].send_signal(signal.SIGKILL)
        procs[name].wait()
        with lock:
            stats["kills"] += 1
        left = du(f"{ROOT}/work-{name}")
        time.sleep(5)
        before = open(f"{ROOT}/{name}.log", errors="replace").read().count("Executor registration succeed")
        start_executor(name)
        began = time.time()
        while open(f"{ROOT}/{name}.log", errors="replace").read().count("Executor registration succeed") == before:
            if time.time() - began > 120:
                raise SystemExit(f"{name} did not register again")
            time.sleep(0.2)
        print(f"[{time.time() - start:5.0f} s] killed {name} (it left {left} bytes of job files), registered again {time.time() - began:.1f} s after its restart", flush=True)
    for w in workers:
        w.join()
    stop.set()
    # Jobs left: submitted minus ended in the scheduler's log, once things settled.
    time.sleep(10)
    log = open(f"{ROOT}/scheduler.log", errors="replace").read()
    submitted = set(l.split("Job submitted: [")[1].split("]")[0] for l in log.splitlines() if "Job submitted: [" in l)
    ended = set()
    for marker in ["Job finished successfully: [", "Job failed: [", "Job cancelled: ["]:
        ended |= set(l.split(marker)[1].split("]")[0] for l in log.splitlines() if marker in l)
    left_files = {n: du(f"{ROOT}/work-{n}") for n in EXECUTORS}
    print(json.dumps({"duration_s": round(time.time() - start), **stats, "max_work_folders_bytes": sizes["max"],
                      "jobs_submitted": len(submitted), "jobs_left_running": len(submitted - ended),
                      "work_folder_bytes_at_end": left_files}, indent=1), flush=True)
    for m in mismatches[:10]:
        print("MISMATCH", m, flush=True)


try:
    main()
finally:
    for name, p in procs.items():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, p in procs.items():
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    print("exit codes:", {n: p.returncode for n, p in procs.items()}, flush=True)
