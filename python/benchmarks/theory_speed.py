"""Speed of the bindings: `aedyn.theory(aedyn.default_config())` against the same work in
Rust (examples/theory_timing.rs: build the default experiment, run_theory), measured in one
run, alternating the two. Prints both (minimum and median over the repeats) and the ratio;
also the call followed by the conversion of every table to numpy arrays (done on first use).

    cargo build --release --example theory_timing
    python python/benchmarks/theory_speed.py [REPEATS]
"""
import os
import subprocess
import sys
import time

import aedyn

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
rust = os.path.join(target, "release", "examples", "theory_timing")
repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def python_times(n, convert=False):
    aedyn.theory(aedyn.default_config())  # warm-up
    times = []
    for _ in range(n):
        start = time.perf_counter()
        result = aedyn.theory(aedyn.default_config())
        if convert:
            result.tables
        times.append(time.perf_counter() - start)
    return sorted(times)


def rust_times(n):
    out = subprocess.run([rust, str(n)], check=True, capture_output=True, text=True).stdout
    words = out.split()
    return float(words[1]), float(words[3])


py_min, py_med, rs_min, rs_med, cv_min, cv_med = [], [], [], [], [], []
for _ in range(3):  # alternate, so that both see the same machine load
    t = python_times(repeats)
    py_min.append(t[0])
    py_med.append(t[len(t) // 2])
    t = python_times(repeats, convert=True)
    cv_min.append(t[0])
    cv_med.append(t[len(t) // 2])
    a, b = rust_times(repeats)
    rs_min.append(a)
    rs_med.append(b)
p, r = min(py_min), min(rs_min)
pm, rm = sorted(py_med)[1], sorted(rs_med)[1]
print(f"rust   : min {r * 1e3:.2f} ms, median {rm * 1e3:.2f} ms")
print(f"python : min {p * 1e3:.2f} ms, median {pm * 1e3:.2f} ms")
print(f"ratio python/rust: min {p / r:.3f}, median {pm / rm:.3f}")
c, cm = min(cv_min), sorted(cv_med)[1]
print(f"python, every table converted: min {c * 1e3:.2f} ms, median {cm * 1e3:.2f} ms"
      f" (ratio min {c / r:.3f}, median {cm / rm:.3f})")
