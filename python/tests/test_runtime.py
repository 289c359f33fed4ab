"""Behaviour of long runs through the bindings, each in a fresh interpreter: results do not
depend on the thread count, and Ctrl-C stops a run within a second or two, leaving no
output."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SIMULATE = """
import hashlib, sys
import aedyn
cfg = aedyn.Config({"data": {"dim": 200}, "output": {"t_max": 5.0, "points": 11},
                    "simulation": {"test_samples": 100}})
r = aedyn.simulate(cfg, seeds=3)
mf = {"model": {"kind": "mean-field"}, "network": {"neurons": 100}, "output": {"t_max": 1.0, "points": 6}}
c = aedyn.compare(mf, seeds=2) if len(sys.argv) > 1 else None
h = hashlib.sha256()
for res in filter(None, [r, c]):
    for t in res.tables.values():
        for k in t.keys():
            h.update(k.encode()); h.update(t[k].tobytes())
print(r.meta["threads"], h.hexdigest())
"""


def run(code, *args, threads=None, **kw):
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, **kw)


def test_results_do_not_depend_on_the_thread_count():
    one, two = (run(SIMULATE, "mf", threads=n) for n in (1, 2))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    (n1, h1), (n2, h2) = one.stdout.split(), two.stdout.split()
    assert (n1, n2) == ("1", "2")
    assert h1 == h2


LONG = """
import sys
import aedyn
what, out = sys.argv[1], sys.argv[2]
if what == "simulate":
    cfg = aedyn.Config({"data": {"dim": 200}, "output": {"t_max": 1e6},
                        "simulation": {"seeds": 2, "test_samples": 1000}})
    r = aedyn.simulate(cfg)
elif what == "theory":
    cfg = aedyn.Config({"network": {"activation": "tanh", "hidden": 4},
                        "output": {"t_max": 1e6, "points": 2000, "spacing": "linear"}})
    r = aedyn.theory(cfg)
else:
    cfg = aedyn.Config({"data": {"dim": 200}, "output": {"t_max": 1e6},
                        "simulation": {"test_samples": 1000}, "sweep": {"what": "simulate",
                        "axis": [{"field": "training.lr", "values": [0.1, 0.2, 0.3]}]}})
    r = aedyn.sweep(cfg)
r.save(out)
print("finished")
"""


@pytest.mark.parametrize("what", ["simulate", "theory", "sweep"])
def test_ctrl_c_stops_a_long_run_promptly_and_writes_nothing(what, tmp_path):
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-c", LONG, what, str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert p.poll() is None, p.communicate()
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert "KeyboardInterrupt" in stderr, stderr
    assert "finished" not in stdout
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
    assert not out.exists()
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".out")]


def test_quickstart_example_runs(tmp_path):
    script = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "final ε_g: theory" in p.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "quickstart.png").stat().st_size > 0
