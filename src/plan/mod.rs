//! Plans: the body (what was planned against what), its canonical bytes and
//! digest, the file envelope that carries signatures, and consistency checks.

mod body;
mod build;
mod check;
mod error;
mod file;
mod operation;

pub use body::{
    BODY_FORMAT_VERSION, ConfigRecord, PLUGIN_FORMAT_VERSION, PlanBody, SELECTION_FORMAT_VERSION,
    ScopeRecord, SelectionRecord, Summary, Touched,
};
pub use build::{BuildOptions, ScopeRead, build};
pub use error::PlanError;
pub use file::{FILE_FORMAT_VERSION, MAX_PLAN_BYTES, PlanFile, SignatureRecord};
pub(crate) use operation::scope_inputs;
pub use operation::{PlanOptions, Planned, PlanningError, plan};
