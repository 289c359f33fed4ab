//! Runtime dispatch to the wide vector instructions of the running CPU (AVX-512, else AVX2,
//! on x86-64), for the element-wise kernels inlined into the closure. Both entry points keep
//! the arithmetic identical on every path, so results never depend on the CPU; the AVX-512
//! kernels that trade that for speed share [`has_avx512_fma`] and [`recip_avx512`].

/// A dispatcher `$name(f)`: `f` under the first feature set the CPU has (AVX-512, then
/// AVX2, each with its `#[target_feature]` list and the runtime checks), else plainly.
macro_rules! dispatcher {
    ($(#[$doc:meta])* $name:ident, $wide:literal, [$($w:tt),+], $narrow:literal, [$($n:tt),+]) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name<R>(f: impl FnOnce() -> R) -> R {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = $wide)]
                unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
                    f()
                }
                #[target_feature(enable = $narrow)]
                unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
                    f()
                }
                use std::arch::is_x86_feature_detected as has;
                if $(has!($w))&&+ {
                    // SAFETY: the CPU supports these features (checked just above).
                    return unsafe { with_avx512(f) };
                }
                if $(has!($n))&&+ {
                    // SAFETY: as above.
                    return unsafe { with_avx2(f) };
                }
            }
            f()
        }
    };
}

dispatcher!(
    /// Runs `f` with AVX-512 or AVX2 enabled, each with FMA, on x86-64 when available. `f` and
    /// every kernel it calls must be `#[inline(always)]` to benefit. Every multiply–add of the
    /// callers is one `f64::mul_add` (correctly rounded everywhere) and every sum has a fixed
    /// order, so the results are identical on every path; only the plain path of an x86-64 CPU
    /// without FMA is slow (software `fma`).
    vectorised,
    "avx512f,avx512vl,avx2,fma",
    ["avx512f", "avx512vl", "fma"],
    "avx2,fma",
    ["avx2", "fma"]
);

dispatcher!(
    /// Runs `f` with AVX-512 or AVX2 enabled but no FMA: Rust never contracts `a * b + c`, so
    /// plain arithmetic in `f` gives the same result on every path.
    vectorised_without_fma,
    "avx512f,avx2",
    ["avx512f"],
    "avx2",
    ["avx2"]
);

/// The CPU has AVX-512F and FMA: the kernels written with AVX-512 intrinsics may run
/// ([`recip_avx512`]).
pub fn has_avx512_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("avx512f") && has!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `1/x` on eight lanes without a division: `vrcp14pd` (relative error < 2⁻¹⁴) and two Newton
/// steps `y ← y + y(1 − x y)`, which square the error (2⁻⁵⁶) and add a few roundings: ≤ 1e-15
/// relative (tested by its callers), where the division is correctly rounded.
///
/// # Safety
/// The CPU must support AVX-512F and FMA (callers are `#[target_feature]` functions that
/// checked [`has_avx512_fma`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn recip_avx512(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees AVX-512F and FMA.
    unsafe {
        let one = _mm512_set1_pd(1.0);
        let mut y = _mm512_rcp14_pd(x);
        for _ in 0..2 {
            y = _mm512_fmadd_pd(y, _mm512_fnmadd_pd(x, y, one), y);
        }
        y
    }
}
