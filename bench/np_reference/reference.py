#!/usr/bin/env python3
"""Independent reference for gpumix's normalized progress (NP) and STP.

Runs the three workloads of models.py (resnet-train, bert-train, resnet-infer)
each as its own OS process, because time slicing and MPS act between
processes (CUDA contexts), in these scenarios:

  alone      each workload alone, one after the other (the NP denominator)
  timeslice  all three at once, the GPU's default sharing
  mps        all three at once, clients of an MPS control daemon this script
             starts with private pipe/log folders and always stops

Measurement protocol, the same for every scenario:
  1. the parent starts the worker processes (this file with --worker NAME);
  2. each builds its model, warms up (20 steps and at least 3 s), reports
     ready, and keeps running steps;
  3. once all are ready, the parent sends every worker one common start time
     T0 = now + 0.5 s on CLOCK_MONOTONIC (one clock for the whole machine on
     Linux, so the processes' timestamps are comparable);
  4. each worker counts the samples of the steps whose END falls in
     [T0, T0 + W] and keeps stepping until T0 + W has passed, so the
     contention lasts the whole window for everyone;
  5. rate = samples in the window / W;  NP = rate shared / rate alone;
     STP = sum of NP over the workloads of a shared scenario.

Repeats are interleaved: each repeat runs every workload alone, then each
shared scenario, and a repeat's NP is taken against that repeat's alone
rates (a workload's rate alone differs from one process launch to the next).
The reported NP and STP are the means over the repeats.

None of this uses gpumix: own processes, own barrier, own window, own clocks.

  reference.py --out reference.json                  # alone, timeslice, mps; W = 20 s
  reference.py --scenarios alone,timeslice --repeats 3 --window 10
  reference.py --smoke                               # CPU, tiny models, W = 2 s, no MPS

Prints a table; --out also writes the results as JSON.
"""
import argparse
import ctypes
import datetime
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ("resnet-train", "bert-train", "resnet-infer")  # as models.NAMES (the parent does not import torch)
SCENARIOS = ("alone", "timeslice", "mps")
START_LEAD_S = 0.5  # T0 = the moment the parent sends "start" + this


class Interrupted(Exception):
    """SIGINT or SIGTERM in the parent: clean up and exit."""


class ScenarioError(Exception):
    pass


def now():
    # CLOCK_MONOTONIC: system-wide on Linux, so the parent's T0 means the same
    # instant in every worker (and NTP steps cannot move it).
    return time.monotonic()


def pct(values, p):
    if not values:
        return None
    s = sorted(values)  # nearest rank
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


# =================================================================== worker
def die_with_parent(parent_pid):
    """The kernel SIGKILLs this process when its parent dies (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class Channel:
    """The worker's side of the protocol: JSON lines out on a private copy of
    stdout, commands in on stdin. Everything else the worker (torch,
    transformers) prints goes to stderr, so it cannot corrupt the protocol."""

    def __init__(self):
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        self.inbuf = b""

    def send(self, **msg):
        self.out.write(json.dumps(msg) + "\n")

    def poll(self):
        """The next command without blocking: a dict, None, or {"cmd": "eof"}."""
        while b"\n" not in self.inbuf:
            if not select.select([0], [], [], 0)[0]:
                return None
            chunk = os.read(0, 4096)
            if not chunk:
                return {"cmd": "eof"}
            self.inbuf += chunk
        line, self.inbuf = self.inbuf.split(b"\n", 1)
        return json.loads(line)


def worker_main(a):
    die_with_parent(a.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    chan = Channel()
    try:
        sys.path.insert(0, HERE)
        import models

        device = a.device or ("cpu" if a.smoke else "cuda")
        info = models.device_info(device)
        step, samples_per_step = models.make(a.worker, device, a.smoke)
        min_steps, min_s = models.warmup_defaults(a.smoke)
        if a.warmup_steps is not None:
            min_steps = a.warmup_steps
        if a.warmup_s is not None:
            min_s = a.warmup_s
        warm_steps, warm_s = models.warm_up(step, min_steps, min_s)
        chan.send(ev="ready", pid=os.getpid(), info=info, description=step.description,
                  samples_per_step=samples_per_step, warmup_steps=warm_steps, warmup_s=round(warm_s, 3))

        # Keep stepping while waiting for the start time, so a workload that is
        # ready early keeps the GPU busy (as under gpumix), and record the end
        # of every step: the window is cut out afterwards, which also covers a
        # start message that arrives late (after T0).
        ends, durations = [], []
        t0 = window = None
        received_at = None
        while True:
            if t0 is None:
                msg = chan.poll()
                if msg is not None:
                    if msg.get("cmd") == "start":
                        t0, window, received_at = float(msg["t0"]), float(msg["window"]), now()
                    else:  # "stop" or the parent closed our stdin
                        return 0
            elif now() >= t0 + window:
                break
            s = now()
            step()
            e = now()
            ends.append(e)
            durations.append((e - s) * 1e3)

        end = t0 + window
        half = t0 + window / 2
        in_window = [(e, d) for e, d in zip(ends, durations) if t0 <= e <= end]
        first = sum(1 for e, _ in in_window if e < half)
        step_ms = [d for _, d in in_window]
        chan.send(ev="result", samples=len(in_window) * samples_per_step, steps=len(in_window),
                  window_s=window, samples_per_step=samples_per_step,
                  rate=len(in_window) * samples_per_step / window,
                  rate_first_half=first * samples_per_step / (window / 2),
                  rate_second_half=(len(in_window) - first) * samples_per_step / (window / 2),
                  steps_before_window=sum(1 for e in ends if e < t0),
                  start_lead_s=round(t0 - received_at, 4),  # < 0: the start message came after T0
                  step_ms_mean=statistics.fmean(step_ms) if step_ms else None,
                  step_ms_p50=pct(step_ms, 50), step_ms_p99=pct(step_ms, 99),
                  step_ms_max=max(step_ms) if step_ms else None)
        return 0
    except BaseException as e:  # report anything, including SystemExit from models
        chan.send(ev="error", msg=f"{type(e).__name__}: {e}", trace=traceback.format_exc())
        return 1


# =================================================================== parent
class Worker:
    """One worker process and the parent's end of its protocol pipes."""

    def __init__(self, name, a, env):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--parent-pid", str(os.getpid())]
        if a.smoke:
            cmd.append("--smoke")
        if a.device:
            cmd += ["--device", a.device]
        if a.warmup_steps is not None:
            cmd += ["--warmup-steps", str(a.warmup_steps)]
        if a.warmup_s is not None:
            cmd += ["--warmup-s", str(a.warmup_s)]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.buf = b""
        self.ready = None
        self.result = None

    def fileno(self):
        return self.proc.stdout.fileno()

    def read_messages(self):
        """Messages that arrived (call when readable); [{"ev": "eof"}] at EOF."""
        chunk = os.read(self.fileno(), 65536)
        if not chunk:
            return [{"ev": "eof"}]
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def send(self, **msg):
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()

    def stop(self):
        """Ends the process if it still runs: SIGTERM, then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def wait_for(workers, key, timeout, label):
    """Reads messages until every worker sent event `key` (ready or result)."""
    deadline = now() + timeout
    pending = {w.fileno(): w for w in workers if getattr(w, key) is None}
    while pending:
        left = deadline - now()
        if left <= 0:
            raise ScenarioError(f"{label}: no {key} within {timeout:.0f}s from {', '.join(w.name for w in pending.values())}")
        for fd in select.select(list(pending), [], [], min(left, 1.0))[0]:
            w = pending[fd]
            for msg in w.read_messages():
                ev = msg.get("ev")
                if ev == "error":
                    sys.stderr.write(msg.get("trace", ""))
                    raise ScenarioError(f"{label}: {w.name} failed: {msg.get('msg')}")
                if ev == "eof":
                    raise ScenarioError(f"{label}: {w.name} exited (status {w.proc.wait()}) before sending {key}")
                if ev == key:
                    setattr(w, key, msg)
            if getattr(w, key) is not None:
                pending.pop(fd)


def run_scenario(label, names, a, env, on_ready=None):
    """Runs `names` together under `env`; returns {name: result message}."""
    workers = []
    try:
        for name in names:
            workers.append(Worker(name, a, env))
        wait_for(workers, "ready", a.ready_timeout, label)
        extra = on_ready(workers) if on_ready else None
        t0 = now() + START_LEAD_S
        for w in workers:
            w.send(cmd="start", t0=t0, window=a.window)
        wait_for(workers, "result", START_LEAD_S + a.window + a.result_timeout, label)
        for w in workers:
            try:
                w.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass  # stop() below
        out = {}
        for w in workers:
            r = dict(w.result)
            r.pop("ev", None)
            r["ready"] = {k: w.ready[k] for k in ("pid", "warmup_steps", "warmup_s")}
            out[w.name] = r
            print(f"  [{label}] {w.name:13s} {r['rate']:10.2f} samples/s  steps {r['steps']:5d}  "
                  f"halves {r['rate_first_half']:.2f}/{r['rate_second_half']:.2f}  "
                  f"step p50 {fmt(r['step_ms_p50'], '.2f')} ms  start lead {r['start_lead_s']:.3f}s", flush=True)
        return out, {w.name: w.ready for w in workers}, extra
    finally:
        for w in workers:
            w.stop()


# ---------------------------------------------------------------- MPS daemon
class MpsDaemon:
    """An MPS control daemon of our own: private pipe and log folders, so it
    can neither meet nor disturb another daemon's clients; always stopped.
    Changes nothing else on the GPU (compute mode, clocks, MIG stay)."""

    PID_FILE = "nvidia-cuda-mps-control.pid"  # written by the daemon in its pipe folder

    def __init__(self):
        self.exe = shutil.which("nvidia-cuda-mps-control")
        if not self.exe:
            raise ScenarioError("mps: nvidia-cuda-mps-control not found in PATH")
        self.pipe_dir = tempfile.mkdtemp(prefix="npref-mps-pipe-")
        self.log_dir = tempfile.mkdtemp(prefix="npref-mps-log-")
        self.env = dict(os.environ, CUDA_MPS_PIPE_DIRECTORY=self.pipe_dir, CUDA_MPS_LOG_DIRECTORY=self.log_dir)
        self.pid = None
        self.started = False
        self.log_tail = []

    def start(self):
        print(f"  [mps] starting nvidia-cuda-mps-control -d (pipe {self.pipe_dir}, log {self.log_dir})", flush=True)
        self.started = True  # before: an interrupt during the start must still lead to stop()
        subprocess.run([self.exe, "-d"], env=self.env, check=True, timeout=30)
        deadline = now() + 10
        while self.pid is None:
            self.pid = self._read_pid()
            if self.pid is None:
                if now() > deadline:
                    raise ScenarioError(f"mps: the control daemon wrote no pid file in {self.pipe_dir} within 10s")
                time.sleep(0.05)

    def _read_pid(self):
        try:
            with open(os.path.join(self.pipe_dir, self.PID_FILE)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def command(self, text, timeout=10):
        r = subprocess.run([self.exe], input=text + "\n", env=self.env, capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip()

    def pids(self, text):
        return [int(t) for t in text.split() if t.isdigit()]

    def evidence(self, workers):
        """Which worker processes really are clients of our MPS server."""
        servers = self.pids(self.command("get_server_list"))
        clients = []
        for s in servers:
            clients += self.pids(self.command(f"get_client_list {s}"))
        per = {w.name: w.ready["pid"] in clients for w in workers}
        ok = bool(servers) and all(per.values())
        print(f"  [mps] servers {servers}, clients {clients}: "
              + ("every worker is an MPS client" if ok else f"WARNING: not all workers are MPS clients {per}"), flush=True)
        return {"daemon_pid": self.pid, "servers": servers, "clients": clients, "worker_is_client": per, "ok": ok}

    def stop(self):
        """quit, then wait for the daemon and its servers to end; SIGKILL them
        (ours only, by pid) if they ignore it. Returns a line for the log."""
        if not self.started:
            return "not started"
        self.started = False
        pid = self.pid or self._read_pid()
        servers = []
        try:
            servers = self.pids(self.command("get_server_list", timeout=5))
        except (OSError, subprocess.SubprocessError):
            pass
        try:
            self.command("quit", timeout=10)
        except (OSError, subprocess.SubprocessError):
            pass
        gone = all(wait_gone(p, 15) for p in ([pid] if pid else []) + servers)
        line = f"daemon {pid} and servers {servers} quit" if gone else ""
        if not gone:
            if pid:
                kill_if_ours(pid, self.pipe_dir)
            for s in servers:  # listed by our own daemon: ours, if still an MPS server
                kill_if_ours(s, None)
            line = f"daemon {pid} / servers {servers} ignored quit: killed"
        self.log_tail = tail(os.path.join(self.log_dir, "control.log"), 20)
        shutil.rmtree(self.pipe_dir, ignore_errors=True)
        shutil.rmtree(self.log_dir, ignore_errors=True)
        return line


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pid, timeout):
    deadline = now() + timeout
    while alive(pid):
        if now() > deadline:
            return False
        time.sleep(0.05)
    return True


def kill_if_ours(pid, pipe_dir):
    """SIGKILL `pid` only if it still is an MPS process and, given pipe_dir,
    its environment names that pipe folder (the pid may have been reused)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            if not f.read().startswith("nvidia-cuda-mps"):
                return
        if pipe_dir:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"CUDA_MPS_PIPE_DIRECTORY={pipe_dir}".encode() not in f.read().split(b"\0"):
                    return
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


def foreign_mps():
    """Running MPS daemons not started by us: clients would meet them."""
    try:
        r = subprocess.run(["pgrep", "-a", "nvidia-cuda-mps"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in r.stdout.strip().splitlines() if alive(int(line.split()[0]))]  # not zombies


# ------------------------------------------------------------------- output
def fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def summarize_mode(repeats):
    """Mean rate, NP and STP over the repeats of one shared mode."""
    names = list(repeats[0]["rate"])
    rate = {n: statistics.fmean(r["rate"][n] for r in repeats) for n in names}
    # NP and STP per repeat (against that repeat's alone rates), then their means.
    np_ = {n: (statistics.fmean(r["np"][n] for r in repeats) if all(r["np"][n] is not None for r in repeats) else None)
           for n in names}
    stps = [r["stp"] for r in repeats]
    stp = statistics.fmean(stps) if all(s is not None for s in stps) else None
    return {"stp": stp, "np": np_, "rate": rate, "stp_repeats": stps, "runs": repeats}


def print_table(doc, names):
    modes = list(doc["modes"])
    head = f"{'workload':14s} {'alone/s':>10s}" + "".join(f" {m + '/s':>12s} {'NP':>6s}" for m in modes)
    print("\n== np-reference: samples/s in the window, NP = shared / alone")
    print(head)
    print("-" * len(head))
    for n in names:
        row = f"{n:14s} {fmt(doc['alone'].get(n), '10.2f'):>10s}"
        for m in modes:
            row += f" {fmt(doc['modes'][m]['rate'].get(n), '12.2f'):>12s} {fmt(doc['modes'][m]['np'].get(n)):>6s}"
        print(row)
    if len(doc["alone_runs"]) > 1:
        for n in names:
            rates = [r[n]["rate"] for r in doc["alone_runs"] if n in r]
            print(f"alone {n:14s} per repeat: {', '.join(fmt(x, '.2f') for x in rates)}"
                  f"  (max/min {fmt(max(rates) / min(rates) if rates and min(rates) > 0 else None)})")
    for m in modes:
        reps = doc["modes"][m]["stp_repeats"]
        print(f"STP {m:10s} {fmt(doc['modes'][m]['stp'])}" + (f"  (repeats {', '.join(fmt(s) for s in reps)})" if len(reps) > 1 else ""))
    for m, why in doc["skipped"].items():
        print(f"{m}: skipped ({why})")
    # Drift between the window's halves: a large one means the window was not steady.
    drifts = []
    for scen, per in [("alone", r) for r in doc["alone_runs"]] + [(m, r["detail"]) for m in modes for r in doc["modes"][m]["runs"]]:
        for n, r in per.items():
            if r["rate_first_half"] > 0:
                drifts.append((abs(r["rate_second_half"] / r["rate_first_half"] - 1), scen, n))
    if drifts:
        d, scen, n = max(drifts)
        print(f"largest first/second-half rate drift: {d * 100:.1f}% ({scen}, {n})")


# --------------------------------------------------------------------- main
def parent_main(a):
    names = [n for n in a.workloads.split(",") if n]
    scenarios = [s for s in a.scenarios.split(",") if s]
    for n in names:
        if n not in NAMES:
            sys.exit(f"unknown workload {n}; known: {', '.join(NAMES)}")
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s}; known: {', '.join(SCENARIOS)}")
    if a.window is None:
        a.window = 2.0 if a.smoke else 20.0

    def on_signal(signum, _frame):
        # Ignore further signals, so that a second Ctrl-C cannot cut short the
        # clean-up (workers, MPS daemon) that this exception unwinds through.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Clients must not find another MPS daemon through these variables, and a
    # daemon at the default pipe folder would turn "timeslice" into MPS.
    base_env = {k: v for k, v in os.environ.items() if k not in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY")}
    base_env["PYTHONUNBUFFERED"] = "1"
    doc = {"tool": "bench/np_reference/reference.py", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "host": os.uname().nodename, "smoke": a.smoke, "window_s": a.window, "start_lead_s": START_LEAD_S,
           "repeats": a.repeats, "device": None, "torch": None, "workloads": {}, "alone": {}, "alone_runs": [],
           "modes": {}, "skipped": {}, "warnings": []}
    others = foreign_mps()
    if others:
        msg = f"another MPS daemon runs ({'; '.join(others)}): alone/timeslice clients may connect to it"
        print("WARNING: " + msg, flush=True)
        doc["warnings"].append(msg)

    def note_ready(ready):
        for n, r in ready.items():
            doc["device"] = doc["device"] or r["info"].get("device_name")
            doc["torch"] = doc["torch"] or r["info"].get("torch")
            doc.setdefault("cuda", r["info"].get("cuda"))
            doc["workloads"][n] = {"description": r["description"], "samples_per_step": r["samples_per_step"]}

    def shared(mode, label):
        """One run of all workloads together: (results, ready messages, extra records)."""
        if mode != "mps":
            res, ready, _ = run_scenario(label, names, a, base_env)
            return res, ready, {}
        daemon = MpsDaemon()
        try:
            daemon.start()
            res, ready, evidence = run_scenario(label, names, a, daemon.env, on_ready=daemon.evidence)
        finally:  # workers are already stopped here (run_scenario's finally)
            print(f"  [mps] {daemon.stop()}", flush=True)
        return res, ready, {"mps": evidence, "mps_control_log": daemon.log_tail}

    rc = 0
    shared_modes = [s for s in scenarios if s != "alone"]
    if "mps" in shared_modes and a.smoke:
        print("mps: skipped in --smoke (CPU only)", flush=True)
        doc["skipped"]["mps"] = "--smoke runs on the CPU"
        shared_modes.remove("mps")
    reps = {mode: [] for mode in shared_modes}
    try:
        for i in range(a.repeats):
            alone = {}  # this repeat's rates alone: the NP denominators of its shared runs
            if "alone" in scenarios:
                detail = {}
                for n in names:
                    res, ready, _ = run_scenario(f"alone {n} r{i + 1}", [n], a, base_env)
                    note_ready(ready)
                    alone[n] = res[n]["rate"]
                    detail[n] = res[n]
                doc["alone_runs"].append(detail)
                doc["alone"] = {n: statistics.fmean(r[n]["rate"] for r in doc["alone_runs"]) for n in names}
            for mode in shared_modes:
                res, ready, extra = shared(mode, f"{mode} r{i + 1}")
                note_ready(ready)
                np_ = {n: (res[n]["rate"] / alone[n] if alone.get(n) else None) for n in names}
                stp = sum(np_.values()) if all(v is not None for v in np_.values()) else None
                reps[mode].append({"stp": stp, "np": np_, "rate": {n: res[n]["rate"] for n in names}, "detail": res, **extra})
                doc["modes"][mode] = summarize_mode(reps[mode])
    except (ScenarioError, subprocess.SubprocessError, OSError, ValueError) as e:
        print(f"ERROR: {e}", file=sys.stderr, flush=True)
        doc["error"] = str(e)
        rc = 1
    except Interrupted as e:
        name = signal.Signals(e.args[0]).name
        print(f"interrupted ({name}): the workers (and the MPS daemon, if any) were stopped", file=sys.stderr, flush=True)
        doc["error"] = f"interrupted by {name}"
        rc = 128 + e.args[0]
    finally:
        # The scenarios stopped their workers and the daemon in their own
        # finally blocks; a second signal must not cut that short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    print_table(doc, names)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"written: {a.out}")
    return rc


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="alone,timeslice,mps", help="comma-separated: alone, timeslice, mps")
    p.add_argument("--workloads", default=",".join(NAMES), help="comma-separated subset of " + ", ".join(NAMES))
    p.add_argument("--window", type=float, default=None, help="measured window W in seconds (default 20, --smoke 2)")
    p.add_argument("--repeats", type=int, default=1,
                   help="interleaved repeats: each runs every workload alone, then each shared scenario")
    p.add_argument("--warmup-steps", type=int, default=None, help="warm-up steps at least (default 20, --smoke 3)")
    p.add_argument("--warmup-s", type=float, default=None, help="warm-up seconds at least (default 3, --smoke 0.5)")
    p.add_argument("--ready-timeout", type=float, default=300, help="seconds for all workers to become ready")
    p.add_argument("--result-timeout", type=float, default=120,
                   help="seconds after the window for the results (a step may be long under sharing)")
    p.add_argument("--device", default="", help="torch device (default cuda, --smoke cpu)")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny models, 2 s window, no MPS: checks the pipeline")
    p.add_argument("--out", default="", help="write the results as JSON here")
    # Internal: how the parent starts a worker.
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker_main(a)
    return parent_main(a)


if __name__ == "__main__":
    sys.exit(main())
