# PyTorch reference for one online SGD step of the two-layer autoencoder (docs/autoencoder.md §1.2),
# same data and update as sgd_numpy.py: x ~ N(0, Ω) (M spikes + bulk, tr Ω / D = 1), erf units,
# loss |x − x̂|²/(2D), encoder rate η/D, decoder rate η, η = 0.4, float64, CPU, one thread
# (torch.set_num_threads(1)). Two variants: "autograd" (loss.backward() + torch.optim.SGD with the
# two parameter groups, as the reference code does) and "manual" (the explicit gradient, no graph).
#   python3 benches/baselines/sgd_torch.py            # both cases × both variants, µs/step
#   python3 benches/baselines/sgd_torch.py 500 manual # one case (D = 10000 or 500), one variant
import math, sys, time
import torch

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

def setup(D, K, thetas, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = 1.0
    norm = sum(thetas) + b * (D - len(thetas)) / D
    U, _ = torch.linalg.qr(torch.randn(D, len(thetas), generator=g))
    A = U * torch.sqrt(torch.tensor(thetas) * D - b) / math.sqrt(norm)   # D×M
    sb = math.sqrt(b / norm)
    W = 0.1 * torch.randn(K, D, generator=g)
    V = 0.1 * torch.randn(K, D, generator=g)
    return g, A, sb, W, V

def sample(g, A, sb):
    D, M = A.shape
    return sb * torch.randn(D, generator=g) + A @ torch.randn(M, generator=g)

def g_act(z):
    return torch.erf(z / math.sqrt(2.0))

class Autograd:
    def __init__(self, W, V, lr):
        D = W.shape[1]
        self.W = W.clone().requires_grad_(True)
        self.V = V.clone().requires_grad_(True)
        self.sqD = math.sqrt(D)
        self.opt = torch.optim.SGD([{"params": [self.W], "lr": lr / D},
                                    {"params": [self.V], "lr": lr}], lr=lr / D)
    def step(self, x):
        self.opt.zero_grad()
        xhat = g_act(self.W @ x / self.sqD) @ self.V
        loss = 0.5 * torch.mean((x - xhat) ** 2)       # |x − x̂|²/(2D)
        loss.backward()
        self.opt.step()

class Manual:
    def __init__(self, W, V, lr):
        self.W, self.V, self.lr = W.clone(), V.clone(), lr
        self.D = W.shape[1]
    @torch.no_grad()
    def step(self, x):
        D, lr = self.D, self.lr
        lam = self.W @ x / math.sqrt(D)
        h = g_act(lam)
        delta = x - h @ self.V
        gp = math.sqrt(2.0 / math.pi) * torch.exp(-0.5 * lam * lam)
        dW = torch.outer((self.V @ delta) * gp, x) * (lr / D**2.5)
        dV = torch.outer(h, delta) * (lr / D)
        self.W += dW
        self.V += dV

def bench(cls, D, K, thetas, steps, lr=0.4, runs=7):
    g, A, sb, W, V = setup(D, K, thetas)
    net = cls(W, V, lr)
    for _ in range(steps // 10):
        net.step(sample(g, A, sb))
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(steps):
            net.step(sample(g, A, sb))
        times.append((time.perf_counter() - t) / steps * 1e6)
    times.sort()
    return times[len(times) // 2]

if __name__ == "__main__":
    cases = [(10_000, 10, [float(m) for m in range(1, 11)], 2000), (500, 2, [25.0, 9.0], 20000)]
    variants = {"autograd": Autograd, "manual": Manual}
    dims = [int(a) for a in sys.argv[1:] if a.isdigit()] or [c[0] for c in cases]
    which = [a for a in sys.argv[1:] if not a.isdigit()] or list(variants)
    for D, K, thetas, steps in cases:
        if D not in dims:
            continue
        for name in which:
            print(f"torch-{name} D={D} K={K}: {bench(variants[name], D, K, thetas, steps):.2f} us/step")
