"""What the reactor thread of a service does while it is loaded.

Installed by ``sitecustomize.py`` beside it (a benchmark sets
``PYTHONPATH`` to this folder and ``BENCH_PROBE_OUT`` to a file), it
records, and writes as JSON at exit:

- every collection of the cyclic garbage collector: when, its generation,
  how long it took and what it freed (``gc.callbacks``), and each
  ``gc.freeze``;
- every *busy stretch* of the reactor: the time from one return of
  ``epoll_wait`` to the next call of it, which is the longest a request
  that arrives just then waits before it is read. Stretches of
  ``BENCH_PROBE_LONG_MS`` (default 2) or more are kept one by one with
  what was in them: CPU time of the thread (wall time minus CPU time is
  time the thread did not run: other processes or another thread holding
  the GIL), I/O events handled, collector time, timed calls (``callLater``,
  ``LoopingCall``) and the slowest of them by name, and the involuntary
  context switches; all others go into a histogram;
- with ``BENCH_PROBE_GARBAGE=1``, what the collector found unreachable
  (kept, ``gc.DEBUG_SAVEALL``, and counted by type at exit: which objects
  make reference cycles; memory grows, so not for figures);
- with ``BENCH_PROBE_STACKS=MS``, a sampling thread that, every
  millisecond, takes the reactor thread's stack when its stretch has run
  for more than MS ms, and counts the stacks (it adds GIL switches of its
  own, so leave it off for latency figures).

Only the standard library and Twisted's reactor classes are touched; the
service's code is not changed.
"""
from __future__ import annotations

import atexit
import gc
import json
import os
import resource
import sys
import threading
import time
from array import array

_mono = time.monotonic
_perf = time.perf_counter
_cpu = time.thread_time
_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
_getrusage = resource.getrusage

LONG_MS = float(os.environ.get("BENCH_PROBE_LONG_MS", "2"))
_LONG = LONG_MS / 1e3
_BUCKETS_MS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 50, 100, 1e9)

_out_path = None
_hist = [0] * len(_BUCKETS_MS)
_long: list = []
_gcs = array("d")  # (monotonic, generation, ms, collected) quadruples
_freezes: list = []
_stacks: list = []  # (monotonic, ms into the stretch, stack)
#: timed calls of SLOW_CALL_MS or more: (monotonic, name, ms)
SLOW_CALL_MS = float(os.environ.get("BENCH_PROBE_SLOW_CALL_MS", "0.3"))
_slow_calls: list = []

# the current stretch
_busy_since = None
_cpu_since = 0.0
_ivcsw_since = 0
_events = 0
_gc_s = 0.0
_gc_gens = 0
_timed_s = 0.0
_timed_n = 0
_top_timed = (0.0, None)

_gc_t0 = 0.0
#: (monotonic, objects the collector tracks outside the permanent generation) at each full collection
_full: list = []


def _gc_callback(phase, info):
    global _gc_t0, _gc_s, _gc_gens
    if phase == "start":
        if info.get("generation") == 2:
            _full.append((round(_mono(), 6), sum(len(gc.get_objects(g)) for g in range(3))))
        _gc_t0 = _perf()
        return
    d = _perf() - _gc_t0
    gen = info.get("generation", -1)
    _gcs.extend((_mono(), gen, d * 1e3, info.get("collected", 0)))
    _gc_s += d
    _gc_gens |= 1 << gen


def _end_stretch(now):
    wall = now - _busy_since
    ms = wall * 1e3
    i = 0
    while ms > _BUCKETS_MS[i]:
        i += 1
    _hist[i] += 1
    if wall >= _LONG and len(_long) < 50000:
        _long.append({
            "t": round(_busy_since, 6), "wall_ms": round(ms, 3),
            "cpu_ms": round((_cpu() - _cpu_since) * 1e3, 3),
            "events": _events, "gc_ms": round(_gc_s * 1e3, 3),
            "gc_gens": [g for g in range(3) if _gc_gens & (1 << g)],
            "timed_ms": round(_timed_s * 1e3, 3), "timed_n": _timed_n,
            "top_timed": _top_timed[1], "top_timed_ms": round(_top_timed[0] * 1e3, 3),
            "ivcsw": _getrusage(_RUSAGE_THREAD).ru_nivcsw - _ivcsw_since,
        })


class _Poller:
    """An epoll object that notes when the reactor waits and wakes."""

    def __init__(self, poller):
        self._poller = poller

    def __getattr__(self, name):
        return getattr(self._poller, name)

    def poll(self, timeout=-1, maxevents=-1):
        global _busy_since, _cpu_since, _ivcsw_since, _events, _gc_s, _gc_gens
        global _timed_s, _timed_n, _top_timed
        if _busy_since is not None:
            _end_stretch(_mono())
        _busy_since = None
        result = self._poller.poll(timeout, maxevents)
        _busy_since = _mono()
        _cpu_since = _cpu()
        _ivcsw_since = _getrusage(_RUSAGE_THREAD).ru_nivcsw
        _events = len(result)
        _gc_s = 0.0
        _gc_gens = 0
        _timed_s = 0.0
        _timed_n = 0
        _top_timed = (0.0, None)
        return result


def _name(f):
    owner = getattr(f, "__self__", None)
    if owner is not None and not isinstance(owner, type(sys)):
        return f"{type(owner).__module__}.{type(owner).__qualname__}.{getattr(f, '__name__', '?')}"
    module = getattr(f, "__module__", None) or "?"
    return f"{module}.{getattr(f, '__qualname__', repr(f))}"


def _timed(f):
    def call(*args, **kw):
        global _timed_s, _timed_n, _top_timed
        t0 = _perf()
        try:
            return f(*args, **kw)
        finally:
            d = _perf() - t0
            _timed_s += d
            _timed_n += 1
            if d > _top_timed[0]:
                _top_timed = (d, _name(f))
            if d * 1e3 >= SLOW_CALL_MS and len(_slow_calls) < 100000:
                _slow_calls.append((round(_mono() - d, 6), _name(f), round(d * 1e3, 3)))
    call.__wrapped__ = f
    return call


def _patch_twisted():
    from twisted.internet import base, epollreactor

    call_later = base.ReactorBase.callLater

    def callLater(self, delay, f, *args, **kw):
        return call_later(self, delay, _timed(f), *args, **kw)

    base.ReactorBase.callLater = callLater
    init = epollreactor.EPollReactor.__init__

    def __init__(self, *args, **kw):
        init(self, *args, **kw)
        self._poller = _Poller(self._poller)

    epollreactor.EPollReactor.__init__ = __init__


def _patch_freeze():
    freeze = gc.freeze

    def traced_freeze():
        t0 = _perf()
        freeze()
        _freezes.append({"t": round(_mono(), 6), "frozen": gc.get_freeze_count(),
                         "ms": round((_perf() - t0) * 1e3, 3)})

    gc.freeze = traced_freeze


def _sampler(threshold_s, main_ident):
    frames = sys._current_frames
    while True:
        time.sleep(0.001)
        since = _busy_since
        if since is None or _mono() - since < threshold_s:
            continue
        frame = frames().get(main_ident)
        key = []
        while frame is not None and len(key) < 14:
            code = frame.f_code
            key.append(f"{os.path.basename(code.co_filename)}:{code.co_name}:{frame.f_lineno}")
            frame = frame.f_back
        if len(_stacks) < 200000:
            _stacks.append((round(_mono(), 4), round((_mono() - since) * 1e3, 2), " < ".join(key)))


def _label(a, b) -> str:
    """How ``a`` refers to ``b``, for a cycle's description."""
    if isinstance(a, dict):
        for k, v in a.items():
            if v is b:
                return f"[{k!r}]"
    if isinstance(a, (list, tuple)):
        for i, v in enumerate(a):
            if v is b:
                return f"[{i}]"
    if getattr(a, "__dict__", None) is b:
        return ".__dict__"
    for name in ("__self__", "__func__", "cell_contents", "f_locals"):
        try:
            if getattr(a, name) is b:
                return "." + name
        except Exception:
            pass
    return "->"


def _cycle(obj, limit: int = 12):
    """A shortest reference cycle through ``obj`` (breadth first over referents)."""
    start = id(obj)
    parents = {start: None}
    keep = {start: obj}
    frontier = [obj]
    for _ in range(limit):
        nxt = []
        for a in frontier:
            for b in gc.get_referents(a):
                if isinstance(b, type) or type(b).__name__ in ("module", "code"):
                    continue
                if id(b) == start:
                    path = [b, a]
                    while parents[id(path[-1])] is not None:
                        path.append(parents[id(path[-1])])
                    path.reverse()
                    return " ".join(type(x).__qualname__ + (_label(x, path[i + 1]) if i + 1 < len(path) else "")
                                    for i, x in enumerate(path))
                if id(b) not in parents:
                    parents[id(b)] = a
                    keep[id(b)] = b
                    nxt.append(b)
        frontier = nxt
    return None


def _cycles_of_garbage():
    out = {}
    wanted = os.environ.get("BENCH_PROBE_GARBAGE_CYCLES", "").split(",")
    for obj in gc.garbage:
        name = type(obj).__qualname__
        if name in wanted and name not in out:
            out[name] = _cycle(obj)
    return out


def _write():
    gens = {}
    for i in range(0, len(_gcs), 4):
        g = gens.setdefault(int(_gcs[i + 1]), [])
        g.append(_gcs[i + 2])
    summary = {
        str(g): {"n": len(v), "max_ms": round(max(v), 3), "total_ms": round(sum(v), 1),
                 "p50_ms": round(sorted(v)[len(v) // 2], 3)}
        for g, v in sorted(gens.items())
    }
    garbage = {}
    if os.environ.get("BENCH_PROBE_GARBAGE"):
        gc.collect()
    for obj in gc.garbage:
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        garbage[name] = garbage.get(name, 0) + 1
    out = {
        "garbage_types": sorted(([n, k] for k, n in garbage.items()), reverse=True)[:60],
        "garbage_cycles": _cycles_of_garbage() if gc.garbage else {},
        "long_ms": LONG_MS,
        "hist_ms": dict(zip([str(b) for b in _BUCKETS_MS], _hist)),
        "long": _long,
        "gc": [[round(_gcs[i], 6), int(_gcs[i + 1]), round(_gcs[i + 2], 4), int(_gcs[i + 3])]
               for i in range(0, len(_gcs), 4)],
        "gc_summary": summary,
        "gc_full_tracked": _full,
        "gc_threshold": gc.get_threshold(),
        "gc_freezes": _freezes,
        "gc_frozen_at_exit": gc.get_freeze_count(),
        "gc_tracked_at_exit": [len(gc.get_objects(g)) for g in range(3)],
        "slow_calls_ms": SLOW_CALL_MS,
        "slow_calls": _slow_calls,
        "stacks": _stacks,
    }
    tmp = _out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, _out_path)


def install(out_path):
    global _out_path
    _out_path = out_path
    gc.callbacks.append(_gc_callback)
    _patch_freeze()
    _patch_twisted()
    atexit.register(_write)
    if os.environ.get("BENCH_PROBE_GARBAGE"):
        # what the collector frees, kept in gc.garbage and counted by type at exit
        gc.set_debug(gc.DEBUG_SAVEALL)
    stacks = os.environ.get("BENCH_PROBE_STACKS")
    if stacks:
        # the sampler needs the GIL: let the reactor thread hand it over often
        sys.setswitchinterval(0.0005)
        threading.Thread(target=_sampler, args=(float(stacks) / 1e3, threading.get_ident()),
                         daemon=True, name="probe-sampler").start()
