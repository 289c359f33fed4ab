//! Runtime dispatch to the wide vector instructions of the running CPU (AVX-512, else AVX2,
//! on x86-64), for the element-wise kernels inlined into the closure. Both entry points keep
//! the arithmetic identical on every path, so results never depend on the CPU.

/// Runs `f` with AVX-512 or AVX2 enabled, each with FMA, on x86-64 when available. `f` and
/// every kernel it calls must be `#[inline(always)]` to benefit. Every multiply–add of the
/// callers is one `f64::mul_add` (correctly rounded everywhere) and every sum has a fixed
/// order, so the results are identical on every path; only the plain path of an x86-64 CPU
/// without FMA is slow (software `fma`).
#[inline(always)]
pub fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512vl") && has!("fma") {
            // SAFETY: the CPU supports these features (checked just above).
            return unsafe { with_avx512(f) };
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: as above.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

/// Runs `f` with AVX-512 or AVX2 enabled but no FMA: Rust never contracts `a * b + c`, so
/// plain arithmetic in `f` gives the same result on every path.
#[inline(always)]
pub fn vectorised_without_fma<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2")]
        unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") {
            // SAFETY: the CPU supports these features (checked just above).
            return unsafe { with_avx512(f) };
        }
        if has!("avx2") {
            // SAFETY: as above.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}
