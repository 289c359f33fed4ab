//! The model-neutral core: the [`Dynamics`] trait every model implements, the generic
//! trajectory [`Table`] and its CSV writer, output grids, the seed runner, run records,
//! comparison statistics and config reading. Nothing here knows a particular model.

pub mod compare;
pub mod config;
pub mod grid;
pub mod model;
pub mod ode;
pub mod runner;
pub mod table;

pub use model::{Dynamics, Progress, Run};
pub use table::Table;
