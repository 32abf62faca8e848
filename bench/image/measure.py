#!/usr/bin/python3
"""Measure one transfer for bench/image/run.sh on a shared machine.

  measure.py wait [max_s] [threshold_cores]
      wait until the whole machine uses less than threshold cores (2 s
      windows), at most max_s seconds; exit 1 if it never got quiet.

  measure.py run LABEL BYTES "PIDS" -- cmd ...
      run cmd (the client: cp, cat, curl) and print one line
        RUN label=.. bytes=.. wall_s=.. mib_s=.. rc=.. server_cpu_s=..
            client_cpu_s=.. background_cores=.. rss_before_kib=..
            rss_max_kib=.. rss_after_kib=..
      server_* are summed over PIDS (empty for the local baselines); the
      resident set of PIDS is sampled every 10 ms while cmd runs;
      background = all busy CPU of the machine - server - client, i.e.
      what other tenants took during the run.
"""
import os
import subprocess
import sys
import threading
import time

HZ = os.sysconf("SC_CLK_TCK")


def busy_jiffies():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]   # user nice system irq softirq steal


def pid_jiffies(pids):
    s = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            s += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return s


def rss_kib(pids):
    s = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    s += int(line.split()[1])
        except OSError:
            pass
    return s


def wait_quiet(max_s, thr):
    t0 = time.time()
    while True:
        a = busy_jiffies()
        time.sleep(2)
        load = (busy_jiffies() - a) / HZ / 2
        if load < thr:
            return 0
        if time.time() - t0 > max_s:
            print(f"measure.py: machine not quiet after {max_s:.0f} s ({load:.2f} cores busy)",
                  file=sys.stderr)
            return 1


def run(label, nbytes, pids, cmd):
    samples = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append(rss_kib(pids))
            time.sleep(0.01)

    before = rss_kib(pids)
    t = threading.Thread(target=sampler, daemon=True)
    b0, s0, t0 = busy_jiffies(), pid_jiffies(pids), time.monotonic()
    if pids:
        t.start()
    p = subprocess.Popen(cmd)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    b1, s1 = busy_jiffies(), pid_jiffies(pids)
    stop.set()
    if pids:
        t.join()
    after = rss_kib(pids)
    server = (s1 - s0) / HZ
    client = ru.ru_utime + ru.ru_stime
    background = max(0.0, (b1 - b0) / HZ - server - client) / wall
    rc = os.waitstatus_to_exitcode(status)
    print(f"RUN label={label} bytes={nbytes} wall_s={wall:.3f} "
          f"mib_s={nbytes / 1048576 / wall:.1f} rc={rc} server_cpu_s={server:.2f} "
          f"client_cpu_s={client:.2f} background_cores={background:.2f} "
          f"rss_before_kib={before} rss_max_kib={max(samples + [before, after])} "
          f"rss_after_kib={after}", flush=True)
    return rc


if __name__ == "__main__":
    if sys.argv[1] == "wait":
        sys.exit(wait_quiet(float(sys.argv[2]) if len(sys.argv) > 2 else 60,
                            float(sys.argv[3]) if len(sys.argv) > 3 else 0.3))
    if sys.argv[1] == "run":
        label, nbytes, pids = sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4].split()]
        sys.exit(run(label, nbytes, pids, sys.argv[sys.argv.index("--") + 1:]))
    sys.exit(__doc__)
