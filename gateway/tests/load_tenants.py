"""Eight tenants asking one gateway in parallel, one of them abusive: the others' latency
(p50, p99, max) and errors, with and without the abuser. Run by hand against a running
gateway (see docs/gateway.md); Python standard library only.

Usage: load_tenants.py ADDR SECONDS ABUSER_KEY KEY [KEY ...]

Each normal tenant asks in a loop, one request at a time: spend summary, tokens, budget and
two days of daily costs, each at a `time` of its own (so the cache does not answer for
Prometheus). The abuser runs eight loops at once, in a process of its own, of: 3,000 nested parentheses, `-` x 9,000,
`abs(` x 1,500, `sum_over_time(vector(1)[10y:1s])`, a 93-day daily answer and costly
subqueries within the default limits. An error is any answer but 200, or a 200 naming a
failed cloud. Prints one JSON document per phase.
"""

import json
import multiprocessing
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def get(addr, key, path):
    req = urllib.request.Request(f"http://{addr}{path}", headers={"Authorization": f"Bearer {key}"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body = e.read()
        status = e.code
    except Exception as e:  # the gateway gone (connection refused or reset) counts as an error
        return (time.perf_counter() - start) * 1000.0, 0, str(e)
    ms = (time.perf_counter() - start) * 1000.0
    failed = ""
    if status == 200:
        try:
            failed = json.loads(body).get("clouds_failed") or ""
        except ValueError:
            failed = "not JSON"
    return ms, status, failed


def normal(addr, key, end, out, n):
    i = 0
    while time.time() < end:
        t = time.time() - 60 - (n * 1000 + i) % 3000
        paths = [
            f"/api/v1/costs/summary?window=1h&group_by=cloud,model&time={t:.3f}",
            f"/api/v1/tokens?window=1h&time={t:.3f}",
            f"/api/v1/budget?time={t:.3f}",
            f"/api/v1/costs/daily?start_date={time.strftime('%Y-%m-%d', time.gmtime(t - 86400))}"
            f"&end_date={time.strftime('%Y-%m-%d', time.gmtime(t))}&time={t:.3f}",
        ]
        ms, status, failed = get(addr, key, paths[i % len(paths)])
        out.append((ms, status == 200 and not failed, status))
        i += 1


def abuse(addr, key, end, counts, n):
    q = urllib.parse.quote
    i = 0
    while time.time() < end:
        queries = [
            "(" * 3000 + "1" + ")" * 3000,
            "-" * 9000 + "1",
            "abs(" * 1500 + "1" + ")" * 1500,
            "sum_over_time(vector(1)[10y:1s])",
            f"count_over_time(vector({n * 100000 + i})[1d:8s])",
            f"max_over_time(sum(rate({{__name__=~\"llm.+\"}}[93d]))[1d:8s]) + {i}",
        ]
        if i % 7 == 6:
            path = "/api/v1/costs/daily?start_date=2026-09-01&end_date=2026-12-02"
        else:
            path = "/api/v1/query?query=" + q(queries[i % len(queries)])
        _, status, _ = get(addr, key, path)
        counts[status] = counts.get(status, 0) + 1
        i += 1


def abuser_process(addr, key, end, queue):
    counts = {}
    threads = [threading.Thread(target=abuse, args=(addr, key, end, counts, n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(counts)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None


def phase(addr, seconds, keys, abuser):
    end = time.time() + seconds
    results = {k: [] for k in keys}
    counts = {}
    threads = [threading.Thread(target=normal, args=(addr, k, end, results[k], n)) for n, k in enumerate(keys)]
    # The abuser in a process of its own: its threads must not slow the others' client.
    queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=abuser_process, args=(addr, abuser, end, queue)) if abuser else None
    if proc:
        proc.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if proc:
        counts = queue.get()
        proc.join()
    every = [r for rs in results.values() for r in rs]
    ms = [r[0] for r in every]
    return {
        "abuser": bool(abuser),
        "requests": len(every),
        "errors": sum(1 for r in every if not r[1]),
        "p50_ms": round(pct(ms, 0.50), 1),
        "p99_ms": round(pct(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "abuser_answers": counts,
    }


def main():
    addr, seconds, abuser, keys = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
    for a in (None, abuser):
        print(json.dumps(phase(addr, seconds, keys, a)), flush=True)


if __name__ == "__main__":
    main()
