//! The apply journal: `RECEIPT.journal`, one JSON line per step, from before the
//! first change until the receipt is written. A minting step is synced to disk
//! before the provider is called (`"step":"minting"`), when the key exists
//! (`minted`, with its id, never its secret) and once its secret is delivered
//! and recorded (`delivered`), so that after a crash or a kill the journal says
//! which key was minted and whether its secret arrived. The receipt supersedes
//! it: the journal is removed once the receipt is stored, and left in place
//! (beside where the receipt would be) when apply never got that far.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use nhi_provider_sdk::{Address, Digest};
use serde::Serialize;

/// Where the journal of an apply that writes `receipt` goes.
pub fn path_for(receipt: &Path) -> PathBuf {
    let mut name = receipt.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

#[derive(Serialize)]
struct Header<'a> {
    journal: &'static str,
    plan: Digest,
    applier: &'a str,
    started_at: jiff::Timestamp,
    changes: usize,
}

#[derive(Serialize)]
struct Line<'a> {
    change: usize,
    address: &'a Address,
    step: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Journal {
    /// Creates the journal (never over an existing one: that is the record of an
    /// earlier apply that did not finish) and syncs its first line.
    pub fn create(
        path: PathBuf,
        plan: Digest,
        applier: &str,
        changes: usize,
    ) -> std::io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        let mut journal = Self { path, file };
        let header = Header {
            journal: "nhi_apply_journal",
            plan,
            applier,
            started_at: crate::clock::system_now(),
            changes,
        };
        journal.append(&header, true)?;
        nhi_provider_sdk::files::sync_dir(&journal.path)?;
        Ok(journal)
    }

    fn append(&mut self, value: &impl Serialize, durable: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        if durable {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Records a step of change `index` (0-based; written 1-based). Steps of
    /// minting are synced before returning; others are written through.
    pub fn step(
        &mut self,
        index: usize,
        address: &Address,
        step: &str,
        key_id: Option<&str>,
        error: Option<&str>,
    ) -> std::io::Result<()> {
        let durable = matches!(step, "minting" | "minted" | "delivered" | "discarded");
        let line = Line {
            change: index + 1,
            address,
            step,
            key_id,
            error,
        };
        self.append(&line, durable)
    }

    /// The receipt is stored: the journal has served.
    pub fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
