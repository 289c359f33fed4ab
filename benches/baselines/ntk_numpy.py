# numpy reference for one full-batch GD step of the NTK-regime autoencoder, joint training,
# n = 100, d = 50, m = 10^4 (single thread: OPENBLAS_NUM_THREADS=1). Compare with
# `cargo bench --bench ntk` (ntk/gd_step_n100_d50_m10000_joint).
import os, time
import numpy as np
n,d,m=100,50,10_000
rng=np.random.default_rng(1)
X=rng.standard_normal((n,d)); W=rng.standard_normal((m,d)); V=rng.standard_normal((d,m))
s=1/np.sqrt(m); eta=1e-4
def step(W,V):
    Z=X@W.T; A=np.maximum(Z,0); U=s*(A@V.T); R=U-X
    gW=s*((Z>0)*(R@V)).T@X; gV=s*(R.T@A)
    W-=eta*gW; V-=eta*gV
for _ in range(3): step(W,V)
reps=20; t=time.perf_counter()
for _ in range(reps): step(W,V)
print("numpy GD step ms", (time.perf_counter()-t)/reps*1e3)
