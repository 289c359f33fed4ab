//! The generative-model figures of `aedyn reproduce` (Nguyen, Wong & Hegde 2019), built by
//! [`crate::generative::figures`]; `Ctx::quick` selects their small versions.

use super::Ctx;
use crate::error::Result;
use crate::generative::figures;
use crate::plot::Figure;

/// Distance to the truth vs step, one panel per generative model.
pub fn distance(ctx: &Ctx) -> Result<Figure> {
    figures::distance_figure(ctx.quick)
}

/// The floor against n and the mixture floors.
pub fn floor(ctx: &Ctx) -> Result<Figure> {
    figures::floor_figure(ctx.quick)
}

/// The basin of attraction.
pub fn basin(ctx: &Ctx) -> Result<Figure> {
    figures::basin_figure(ctx.quick)
}

/// Support recovery against the step.
pub fn support(ctx: &Ctx) -> Result<Figure> {
    figures::support_figure(ctx.quick)
}

/// Measured against predicted rates.
pub fn rate(ctx: &Ctx) -> Result<Figure> {
    figures::rate_figure(ctx.quick)
}
