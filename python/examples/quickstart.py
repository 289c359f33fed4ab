"""Sequential learning of the principal components (erf, K = 3, spikes 81/25/9): the theory
curve and one SGD run at D = 1000, plotted with matplotlib into quickstart.png."""
import aedyn

cfg = aedyn.Config({"data": {"spikes": [81.0, 25.0, 9.0]}, "network": {"hidden": 3},
                    "output": {"t_max": 300.0, "points": 61}, "simulation": {"test_samples": 0}})
th, sim = aedyn.theory(cfg), aedyn.simulate(cfg, seeds=1)
print(f"final ε_g: theory {th['test_error'][-1]:.5f}, SGD {sim['test_error'][-1]:.5f}")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    plt.semilogx(th.index[1:], th["test_error"][1:], label="theory")
    plt.semilogx(sim.index[1:], sim["test_error"][1:], "o", ms=3, label="SGD, D = 1000")
    plt.xlabel("t"), plt.ylabel("ε_g"), plt.legend(), plt.savefig("quickstart.png", dpi=120)
