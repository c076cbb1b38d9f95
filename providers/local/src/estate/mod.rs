//! The estate file on disk: reading it whole (`read_estate`, `load`) and replacing
//! it (`write_estate`, `store`). What the file holds is `format`; turning it into
//! bytes and back is `codec`, with `lines` for the fast path that decodes the
//! file line by line on several threads; writing it atomically is `store`.

mod codec;
mod format;
mod lines;
mod store;

use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;

use nhi_provider_sdk::{ObservedIdentity, ObservedState, ProviderError};

#[cfg(test)]
pub(crate) use codec::encode;
use codec::parse;
pub use format::FORMAT_VERSION;
use format::check_members;
pub(crate) use store::{Stamp, current_stamp, store};

/// Reads the estate file at `path`: identities sorted by name. A missing file is an
/// empty estate.
pub fn read_estate(path: &Path) -> Result<ObservedState, ProviderError> {
    load(path).map(|(_, identities)| ObservedState { identities })
}

/// Replaces the estate file at `path` atomically with `state`, in any order.
pub fn write_estate(path: &Path, state: &ObservedState) -> Result<(), ProviderError> {
    let mut sorted: Vec<&ObservedIdentity> = state.identities.iter().collect();
    sorted.sort_unstable_by(|a, b| a.identity.name.cmp(&b.identity.name));
    for pair in sorted.windows(2) {
        if pair[0].identity.name == pair[1].identity.name {
            return Err(ProviderError::Other(format!(
                "identity `{}` appears more than once",
                pair[0].identity.name
            )));
        }
    }
    for identity in &sorted {
        check_members(identity).map_err(ProviderError::Other)?;
    }
    store(path, sorted).map(|_| ())
}

/// Reads and checks the estate at `path`, with the stamp of what was read.
pub(crate) fn load(path: &Path) -> Result<(Option<Stamp>, Vec<ObservedIdentity>), ProviderError> {
    let context = || format!("cannot read estate file `{}`", path.display());
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((None, Vec::new())),
        Err(err) => return Err(ProviderError::io(context(), err)),
    };
    let meta = file
        .metadata()
        .map_err(|err| ProviderError::io(context(), err))?;
    // Decoded as it is read where the layout allows; the text is read whole
    // only for the decoder that reports problems.
    #[cfg(unix)]
    if let Some(identities) =
        lines::parse_lines_at(&lines::OpenFile(&file, meta.len()), lines::PARALLEL_BYTES)
    {
        return Ok((Some(Stamp::of(&meta)), identities));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    file.read_to_end(&mut bytes)
        .map_err(|err| ProviderError::io(context(), err))?;
    let identities = parse(&bytes, path)?;
    Ok((Some(Stamp::of(&meta)), identities))
}

#[cfg(test)]
mod tests;
