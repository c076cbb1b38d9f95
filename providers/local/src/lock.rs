//! The scope lock of a local estate: `<state>.lock` beside the estate file, taken
//! with the SDK's file lock.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub(crate) use nhi_provider_sdk::lockfile::acquire;

/// `<state>.lock`, next to the estate.
pub(crate) fn lock_path(state: &Path) -> PathBuf {
    let mut path = OsString::from(state.as_os_str());
    path.push(".lock");
    PathBuf::from(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_sits_beside_the_estate() {
        assert!(
            super::lock_path(std::path::Path::new("/x/estate.json")).ends_with("estate.json.lock")
        );
    }
}
