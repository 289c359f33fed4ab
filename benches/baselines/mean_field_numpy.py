# numpy reference for the mean-field particle velocity (docs/mean-field.md §2.4), written the
# plain vectorised way; single thread: OPENBLAS_NUM_THREADS=1 python3 mean_field_numpy.py
#
#   Bm = γ² Θ Σ Θᵀ,  a_p = Bm_pp,  G = Θ Θᵀ;   Kss, Kdd, Kds entrywise at (a_p, a_q, Bm_pq)
#   V  = αγ diag(K1+K2) ΘΣ − (α²/P) [ Kss Θ + γ² diag((G∘Kds)𝟙) ΘΣ + γ² (G∘Kdd) ΘΣ ] − λΘ
#
# erf closed forms (§2.2), P = 2000, d = 50, config R's spectrum, α = γ = 1, λ = 0.3 — the
# setting of `cargo bench --bench mean_field` ("velocity P=2000 d=50 erf"). Four P×P×d GEMMs
# (1.6 GFLOP) plus P² kernels per evaluation.
#
# Agreement with the Rust velocity: θ_pj = 0.4·(h(p·d + j)/2³² − ½), h(n) = n·2654435761 mod 2³²
# (exact integer arithmetic in both languages); the printed checksums are asserted by the unit
# test `velocity_matches_the_numpy_baseline` in src/mean_field/particles.rs.
import sys, time
import numpy as np

P, D = 2000, 50
ALPHA, GAMMA, LAM = 1.0, 1.0, 0.3
KAPPA = np.repeat([4.0, 2.0, 1.0, 0.1], [5, 5, 10, 30])
Z_CLIP = 1.0 - 1e-15


def theta_formula(p, d):
    n = np.arange(p * d, dtype=np.uint64).reshape(p, d)
    h = (n * np.uint64(2654435761)) % np.uint64(2**32)
    return 0.4 * (h.astype(np.float64) / 2.0**32 - 0.5)


def velocity(th):
    p = th.shape[0]
    g2 = GAMMA * GAMMA
    S = th * KAPPA
    Bm = g2 * S @ th.T
    G = th @ th.T
    a = np.diag(Bm).copy()
    k1 = np.sqrt(2 / np.pi) / np.sqrt(1 + a)
    k2 = k1 / (1 + a)
    sq = np.sqrt(np.outer(1 + a, 1 + a))
    z = np.clip(Bm / sq, -Z_CLIP, Z_CLIP)
    c = np.sqrt((1 - z) * (1 + z))
    Kss = 2 / np.pi * np.arcsin(z)
    Kdd = 2 / np.pi / (sq * c)
    Kds = -2 / np.pi * z / ((1 + a)[:, None] * c)
    pair = Kss @ th + g2 * (G * Kds).sum(1)[:, None] * S + g2 * (G * Kdd) @ S
    return ALPHA * GAMMA * (k1 + k2)[:, None] * S - ALPHA**2 / p * pair - LAM * th


def med(f, reps):
    """Median process-CPU time (robust on a shared machine; one thread, so ≈ wall time)."""
    f()
    t = []
    for _ in range(reps):
        s = time.process_time()
        f()
        t.append(time.process_time() - s)
    return np.median(t)


th = theta_formula(P, D)
v = velocity(th)
print(f"checksums: sum {v.sum():.17e} abs_sum {np.abs(v).sum():.17e} "
      f"v00 {v[0, 0]:.17e} v_last {v[-1, -1]:.17e} amax {np.abs(v).max():.17e}")
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
t = med(lambda: velocity(th), reps)
flop = 4 * 2 * P * P * D
print(f"numpy velocity P={P} d={D} erf: {t * 1e3:.1f} ms CPU "
      f"({flop / 1e9:.2f} GFLOP of GEMM, {flop / t / 1e9:.1f} GFLOP/s), median of {reps}")
a = np.random.default_rng(0).standard_normal((P, P))
b = np.random.default_rng(1).standard_normal((P, D))
t = med(lambda: a @ b, reps)
print(f"numpy DGEMM {P}x{P}x{D}: {t * 1e3:.2f} ms, {2 * P * P * D / t / 1e9:.1f} GFLOP/s")
b = np.random.default_rng(1).standard_normal((P, P))
t = med(lambda: a @ b, 3)
print(f"numpy DGEMM {P}x{P}x{P}: {t * 1e3:.1f} ms, {2 * P**3 / t / 1e9:.1f} GFLOP/s")
