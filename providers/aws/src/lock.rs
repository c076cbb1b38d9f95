//! The scope lock. IAM has no lock primitive, so this is the SDK's exclusive OS
//! file lock on `.nhi-aws-<block>.lock` in the configuration's directory: it keeps
//! appliers on this machine (sharing that directory) apart, not appliers elsewhere.

use std::path::{Path, PathBuf};

pub(crate) use nhi_provider_sdk::lockfile::acquire;

/// `.nhi-aws-<block>.lock` in `base_dir`.
pub(crate) fn lock_path(base_dir: &Path, block: &str) -> PathBuf {
    base_dir.join(format!(".nhi-aws-{block}.lock"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_file_is_named_after_the_block() {
        assert!(
            super::lock_path(std::path::Path::new("/x"), "prod").ends_with(".nhi-aws-prod.lock")
        );
    }
}
