//! The NTK-regime figures of `aedyn reproduce` (Nguyen, Wong & Hegde 2021), built by
//! [`crate::ntk::figures`]; `Ctx::quick` selects their small versions.

use super::Ctx;
use crate::error::Result;
use crate::ntk::figures;
use crate::plot::Figure;

/// Training loss vs step with the linearised prediction and the λ_min rate.
pub fn loss(ctx: &Ctx) -> Result<Figure> {
    figures::loss_vs_step(ctx.quick)
}

/// Convergence of the finite-width Gram to its infinite-width limit.
pub fn gram(ctx: &Ctx) -> Result<Figure> {
    figures::gram_convergence(ctx.quick)
}

/// Relative weight movement against the width.
pub fn movement(ctx: &Ctx) -> Result<Figure> {
    figures::weight_movement(ctx.quick)
}

/// Success against the width, weak vs joint.
pub fn success(ctx: &Ctx) -> Result<Figure> {
    figures::success(ctx.quick)
}

/// The weight-tied degeneracy.
pub fn tied(ctx: &Ctx) -> Result<Figure> {
    figures::tied(ctx.quick)
}

/// Memorisation: distance to the kernel predictor against the width.
pub fn memorisation(ctx: &Ctx) -> Result<Figure> {
    figures::memorisation(ctx.quick)
}
