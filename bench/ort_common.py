# What bench/ort_bench.py and bench/ort_model.py share: ONNX Runtime sessions configured like the C
# harness's contenders, and the timed loop (cold = a large read before every call, hot = same weights).
"""Helpers shared by the ONNX Runtime peers of bench/; not a script of its own."""

import ctypes
import os
import threading
import time

import numpy as np
import onnxruntime as ort


def session(path: str, threads: int) -> ort.InferenceSession:
    """One CPU session: `threads` intra-op threads, sequential execution, all graph optimisations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class Eviction:
    """What a cold call is preceded by, as in the C harness (bench/harness.c, `evict_caches`): a full read of a buffer
    of `mib` MiB (twice L3) on the calling thread and, when the call runs on more than one thread, at the same time on
    every other CPU of the process by a thread pinned there (`where` = "all"); or on the calling thread only ("caller",
    the protocol before 2026-12-05 15:00). A read on the calling thread alone leaves a worker thread's share of the
    weights in its CPU's L2 and, when the host places the virtual CPUs under different L3s, in its L3. One-thread calls
    read on the caller only either way: helper threads before a call add tens of microseconds to ONNX Runtime's
    per-call code even on a 64x64 layer, which is no part of reading its weights (bench/RESULTS.md, 2026-12-05 15:00)."""

    def __init__(self, mib: int, where: str = "all"):
        self.buffer = np.ones(mib << 18, dtype=np.float32)
        self.mib = mib
        self.cpus = sorted(os.sched_getaffinity(0)) if where == "all" else []
        self.libc = ctypes.CDLL(None, use_errno=True) if self.cpus else None

    def describe(self) -> str:
        where = f"on the caller (2+ threads: at once on CPUs {','.join(map(str, self.cpus))})" if self.cpus else "on the calling thread"
        return f"{self.mib} MiB read {where}"

    def _read_on(self, cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})  # pid 0: this thread only
        self.buffer.sum()  # numpy releases the GIL in the reduction: this runs beside the caller's read

    def run(self, threads: int) -> None:
        if threads <= 1 or not self.libc:
            self.buffer.sum()
            return
        here = self.libc.sched_getcpu()
        helpers = [threading.Thread(target=self._read_on, args=(cpu,)) for cpu in self.cpus if cpu != here]
        for helper in helpers:
            helper.start()
        self.buffer.sum()
        for helper in helpers:
            helper.join()


def time_calls(session: ort.InferenceSession, binding, mode: str, calls: int, pause_ms: int,
               evict: Eviction, threads: int) -> list[float]:
    """One repetition: pause (ORT's pool spins ≈ 0.1 s after a call), one untimed call when hot, then
    `calls` timed calls, each preceded by `evict` when cold. Returns seconds per call."""
    time.sleep(pause_ms / 1000)
    if mode == "hot":
        session.run_with_iobinding(binding)
    samples = []
    for _ in range(calls):
        if mode == "cold":
            evict.run(threads)
        start = time.perf_counter()
        session.run_with_iobinding(binding)
        samples.append(time.perf_counter() - start)
    return samples
