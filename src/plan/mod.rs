//! Plans: the body (what was planned against what), its canonical bytes and
//! digest, the file envelope that carries signatures, and consistency checks.

mod body;
mod build;
mod check;
mod error;
mod file;

pub use body::{BODY_FORMAT_VERSION, ConfigRecord, PlanBody, ScopeRecord, Summary, Touched};
pub use build::{PlanOptions, ScopeRead, build};
pub use error::PlanError;
pub use file::{FILE_FORMAT_VERSION, MAX_PLAN_BYTES, PlanFile, SignatureRecord};
pub(crate) use file::{check_digest, seal, write_atomic};
