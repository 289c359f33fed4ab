# numpy reference for one online SGD step of the two-layer autoencoder (docs/autoencoder.md §1.2):
# one input x ~ N(0, Ω) with M spikes θ_m·D along random orthonormal directions + bulk b = 1,
# normalised to tr Ω / D = 1 (aedyn's default data), erf units, loss |x − x̂|²/(2D), manual
# gradient, encoder rate η/D, decoder rate η, η = 0.4. Single thread: run with
# OPENBLAS_NUM_THREADS=1. Compare with `cargo bench --bench sgd` (sgd_step/D=10000,K=10,M=10,random
# and sgd_step/D=500,K=2,M=2,random).
#   python3 benches/baselines/sgd_numpy.py            # both cases, µs/step (median of 7 runs)
#   python3 benches/baselines/sgd_numpy.py 500        # one case (D = 10000 or 500)
import sys, time
import numpy as np
from scipy.special import erf

SQRT2, SQRT2PI = np.sqrt(2.0), np.sqrt(2.0 / np.pi)

def setup(D, K, thetas, seed=0):
    rng = np.random.default_rng(seed)
    b = 1.0
    norm = sum(thetas) + b * (D - len(thetas)) / D            # tr Ω / D before normalising
    U, _ = np.linalg.qr(rng.standard_normal((D, len(thetas))))  # orthonormal spike directions
    # x = sqrt(b) ξ + Σ_m sqrt(ρ_m − b) c_m u_m  has covariance Ω = b I + Σ_m (ρ_m − b) u_m u_mᵀ
    A = U * np.sqrt(np.array(thetas) * D - b) / np.sqrt(norm)  # D×M
    sb = np.sqrt(b / norm)
    W = 0.1 * rng.standard_normal((K, D))
    V = 0.1 * rng.standard_normal((K, D))
    return rng, A, sb, W, V

def sample(rng, A, sb):
    D, M = A.shape
    return sb * rng.standard_normal(D) + A @ rng.standard_normal(M)

def step(W, V, x, lr):
    D = x.shape[0]
    lam = W @ x / np.sqrt(D)              # K pre-activations
    h = erf(lam / SQRT2)                  # g(λ)
    delta = x - h @ V                     # residual x − x̂
    gp = SQRT2PI * np.exp(-0.5 * lam * lam)
    dW = np.outer((V @ delta) * gp, x) * (lr / D**2.5)   # −(η/D) ∇_W L
    dV = np.outer(h, delta) * (lr / D)                   # −η ∇_V L
    W += dW
    V += dV

def bench(D, K, thetas, steps, lr=0.4, runs=7):
    rng, A, sb, W, V = setup(D, K, thetas)
    for _ in range(steps // 10):
        step(W, V, sample(rng, A, sb), lr)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(steps):
            step(W, V, sample(rng, A, sb), lr)
        times.append((time.perf_counter() - t) / steps * 1e6)
    return float(np.median(times))

if __name__ == "__main__":
    cases = [(10_000, 10, [float(m) for m in range(1, 11)], 2000), (500, 2, [25.0, 9.0], 20000)]
    dims = [int(a) for a in sys.argv[1:]] or [c[0] for c in cases]
    for D, K, thetas, steps in cases:
        if D not in dims:
            continue
        print(f"numpy D={D} K={K}: {bench(D, K, thetas, steps):.2f} us/step")
