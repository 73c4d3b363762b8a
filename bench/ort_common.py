# What bench/ort_bench.py and bench/ort_model.py share: ONNX Runtime sessions configured like the C
# harness's contenders, and the timed loop (cold = a large read before every call, hot = same weights).
"""Helpers shared by the ONNX Runtime peers of bench/; not a script of its own."""

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


def eviction_buffer(mib: int) -> np.ndarray:
    """A buffer whose full read before a call pushes the weights out of the caches (twice L3 is enough)."""
    return np.ones(mib << 18, dtype=np.float32)


def time_calls(session: ort.InferenceSession, binding, mode: str, calls: int, pause_ms: int,
               evict: np.ndarray) -> list[float]:
    """One repetition: pause (ORT's pool spins ≈ 0.1 s after a call), one untimed call when hot, then
    `calls` timed calls, each preceded by a read of `evict` when cold. Returns seconds per call."""
    time.sleep(pause_ms / 1000)
    if mode == "hot":
        session.run_with_iobinding(binding)
    samples = []
    for _ in range(calls):
        if mode == "cold":
            evict.sum()
        start = time.perf_counter()
        session.run_with_iobinding(binding)
        samples.append(time.perf_counter() - start)
    return samples
