# numpy reference for the same steps (single thread: OPENBLAS_NUM_THREADS=1).
import time, itertools, numpy as np
rng = np.random.default_rng(0)

def med(f, reps):
    f(); t = []
    for _ in range(reps):
        s = time.perf_counter(); f(); t.append(time.perf_counter() - s)
    return np.median(t) * 1e6

def thr(u, tau=0.5):
    d = (np.abs(u) >= tau).astype(float)
    return u * d, d

def grad_dense(W, b, Y):  # Y: B x n (rows are samples)
    U = Y @ W.T + b
    H, D = thr(U)
    R = H @ W - Y
    G = D * (R @ W.T)
    return (H.T @ R + G.T @ Y) / Y.shape[0], 0.5 * np.mean(np.sum(R * R, 1))

def dictionary(n, m):
    A = rng.standard_normal((n, m)); return A / np.linalg.norm(A, axis=0)

# SGD step n = 256, m = 64, B = 256 (sparse codes, k = 3)
n, m, k, B = 256, 64, 3, 256
A = dictionary(n, m)
W = A.T + 0.1 / np.sqrt(n) * rng.standard_normal((m, n))
b = np.zeros(m)
X = np.zeros((B, m))
for i in range(B):
    S = rng.choice(m, k, replace=False); X[i, S] = rng.choice([-1.0, 1.0], k)
Y = X @ A.T
eta = m / (4 * k)
def step():
    global W
    g, _ = grad_dense(W, b, Y)
    W = W - eta * 1e-9 * g
print(f"numpy SGD step n=256 m=64 B=256: {med(step, 300):.0f} us")

# Exact expected gradient n = 64, m = 32, k = 3: all 39 680 codes, dense batch with probabilities
n, m, k = 64, 32, 3
A = dictionary(n, m)
W = A.T + 0.1 / np.sqrt(n) * rng.standard_normal((m, n))
b = np.zeros(m)
codes = []
for S in itertools.combinations(range(m), k):
    for sg in itertools.product([-1.0, 1.0], repeat=k):
        x = np.zeros(m); x[list(S)] = sg; codes.append(x)
X = np.array(codes); Y = X @ A.T
print("codes", len(codes))
def exact():
    return grad_dense(W, b, Y)
print(f"numpy exact expected gradient n=64 m=32 k=3: {med(exact, 20):.0f} us")
