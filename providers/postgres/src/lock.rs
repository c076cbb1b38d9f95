//! The scope lock: a session-level advisory lock in the block's database, keyed
//! by the role prefix, held by a connection of its own for as long as the guard
//! lives. The server releases it when that session ends, however the applier
//! died. The holder's name travels as the session's `application_name`, so a
//! waiting applier can say whom it waits for.

use std::path::Path;
use std::time::{Duration, Instant};

use nhi_provider_sdk::{LockGuard, LockRequest, ProviderError};
use sha2::{Digest as _, Sha256};
use tokio_postgres::Client;

use crate::db;
use crate::settings::Settings;

/// How often a held lock is tried again while waiting.
const POLL: Duration = Duration::from_millis(200);

/// What prefixes `application_name` on the lock's session.
const HOLDER_PREFIX: &str = "nhi lock: ";

/// Held while an apply runs: dropping it closes the session, which releases the
/// lock.
struct AdvisoryLock {
    _client: Client,
}

impl LockGuard for AdvisoryLock {}

/// The two 32-bit halves of the lock's key: the first 8 bytes of
/// `sha256("nhi-provider-postgres:" + prefix)`.
pub(crate) fn key(prefix: &str) -> (i32, i32) {
    let digest = Sha256::digest(format!("nhi-provider-postgres:{prefix}").as_bytes());
    let half =
        |i: usize| i32::from_be_bytes([digest[i], digest[i + 1], digest[i + 2], digest[i + 3]]);
    (half(0), half(4))
}

pub(crate) async fn acquire(
    settings: &Settings,
    base_dir: &Path,
    request: &LockRequest,
) -> Result<Box<dyn LockGuard>, ProviderError> {
    // PostgreSQL keeps 63 bytes of an application name; cut on a char boundary.
    let mut name = format!("{HOLDER_PREFIX}{}", request.holder);
    while name.len() > 63 {
        name.pop();
    }
    let client = db::connect(settings, base_dir, &name).await?;
    let (class, object) = key(&settings.role_prefix);
    let deadline = Instant::now().checked_add(request.timeout);
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&class, &object])
            .await
            .map_err(|err| db::error("taking the scope lock", "the scope", &err))?;
        if row.get::<_, bool>(0) {
            return Ok(Box::new(AdvisoryLock { _client: client }));
        }
        // A timeout too large to add is a wait without end.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(ProviderError::Locked {
                holder: holder(&client, class, object).await,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Who holds the lock, as its session names itself (anyone's to write, so shown
/// only as far as it is plain text).
async fn holder(client: &Client, class: i32, object: i32) -> String {
    let row = client
        .query_opt(
            "SELECT a.application_name, a.usename::text, a.pid FROM pg_locks l \
             JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted \
               AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid AND l.objsubid = 2 \
             LIMIT 1",
            &[&class, &object],
        )
        .await;
    let Ok(Some(row)) = row else {
        return "another session".to_owned();
    };
    let name: Option<String> = row.get(0);
    let user: Option<String> = row.get(1);
    let pid: i32 = row.get(2);
    let name = name.unwrap_or_default();
    let shown: String = name
        .strip_prefix(HOLDER_PREFIX)
        .unwrap_or(&name)
        .chars()
        .filter(|c| !nhi_provider_sdk::text::is_unsafe_char(*c))
        .collect();
    format!(
        "`{shown}` (session {pid} of `{}`)",
        user.unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_lock_key_depends_on_the_prefix_only() {
        assert_eq!(super::key("app_"), super::key("app_"));
        assert_ne!(super::key("app_"), super::key("ops_"));
    }
}
