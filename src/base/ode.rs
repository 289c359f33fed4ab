//! The one hand-written integrator shared by the models whose limit equations are not
//! integrated adaptively: classical fourth-order Runge–Kutta on a matrix state, and the
//! output-time loop that splits each output interval into equal steps of at most `dt`.

use nalgebra::DMatrix;

/// One classical RK4 step of length `h` for `dy/dt = f(y)`.
pub fn rk4_step(
    f: impl Fn(&DMatrix<f64>) -> DMatrix<f64>,
    y: &DMatrix<f64>,
    h: f64,
) -> DMatrix<f64> {
    let k1 = f(y);
    let k2 = f(&(y + &k1 * (0.5 * h)));
    let k3 = f(&(y + &k2 * (0.5 * h)));
    let k4 = f(&(y + &k3 * h));
    y + (k1 + (k2 + k3) * 2.0 + k4) * (h / 6.0)
}

/// The number of equal steps of at most `dt` that cover an output interval of length `span`
/// (at least one for a positive span, none for an empty one).
pub fn substeps(span: f64, dt: f64) -> usize {
    if span <= 0.0 {
        0
    } else {
        (span / dt).ceil().max(1.0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rk4_is_fourth_order_on_exponential_decay() {
        // dy/dt = −y, y(1) = e^{−1}: the global error of RK4 falls as h⁴.
        let err = |n: usize| {
            let h = 1.0 / n as f64;
            let mut y = DMatrix::from_element(1, 1, 1.0);
            for _ in 0..n {
                y = rk4_step(|y| -y, &y, h);
            }
            (y[(0, 0)] - (-1.0f64).exp()).abs()
        };
        let order = (err(10) / err(20)).log2();
        assert!((order - 4.0).abs() < 0.1, "observed order {order}");
        assert_eq!(substeps(0.25, 0.1), 3);
        assert_eq!(substeps(0.0, 0.1), 0);
    }
}
