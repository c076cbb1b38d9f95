//! Key last-use from the IAM credential report: one CSV for the whole account
//! instead of one `GetAccessKeyLastUsed` call per key. The report names keys by
//! slot, not id, so a key is matched by its creation time.

use std::collections::HashMap;

use jiff::Timestamp;

/// The report's view of one access key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReportKey {
    /// `access_key_N_last_rotated`: when the key was created.
    pub(crate) created: Timestamp,
    pub(crate) last_used: Option<Timestamp>,
}

/// Key slots by user name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CredentialReport {
    users: HashMap<String, Vec<ReportKey>>,
}

impl CredentialReport {
    /// Parses the report's CSV; rows or fields it cannot read are skipped.
    pub(crate) fn parse(csv: &str) -> Result<Self, String> {
        let mut rows = csv.lines().filter(|l| !l.trim().is_empty()).map(split_row);
        let header = rows.next().ok_or("the credential report is empty")?;
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("the credential report has no `{name}` column"))
        };
        let user = column("user")?;
        let slots = [
            (
                column("access_key_1_last_rotated")?,
                column("access_key_1_last_used_date")?,
            ),
            (
                column("access_key_2_last_rotated")?,
                column("access_key_2_last_used_date")?,
            ),
        ];
        let mut users = HashMap::new();
        for row in rows {
            let Some(name) = row.get(user) else { continue };
            let keys: Vec<ReportKey> = slots
                .iter()
                .filter_map(|&(rotated, used)| {
                    Some(ReportKey {
                        created: timestamp(row.get(rotated)?)?,
                        last_used: row.get(used).and_then(|u| timestamp(u)),
                    })
                })
                .collect();
            users.insert(name.clone(), keys);
        }
        Ok(Self { users })
    }

    /// When the key of `user` created at `created` was last used, if the report
    /// says so and exactly one slot matches its creation second.
    pub(crate) fn last_used(&self, user: &str, created: Timestamp) -> Option<Timestamp> {
        let keys = self.users.get(user)?;
        let mut matching = keys
            .iter()
            .filter(|k| k.created.as_second() == created.as_second());
        match (matching.next(), matching.next()) {
            (Some(key), None) => key.last_used,
            _ => None,
        }
    }
}

/// A report timestamp; `N/A`, `no_information` and the like are `None`.
fn timestamp(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// One CSV row, with RFC 4180 quoting (user names may hold `,`).
fn split_row(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn parses_slots_and_matches_by_creation_second() {
        let csv = format!(
            "{HEADER}\r\n\
             <root_account>,arn:aws:iam::1:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\r\n\
             ci,arn:aws:iam::1:user/nhi/ci,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-01-02T10:00:00+00:00,2026-03-01T08:30:00+00:00,us-east-1,s3,true,2026-01-05T10:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A\n\
             \"a,b\",\"arn:aws:iam::1:user/nhi/a,b\",2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-02-01T00:00:00+00:00,no_information,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let report = CredentialReport::parse(&csv).unwrap();
        // Sub-second precision of the key's CreateDate does not matter.
        assert_eq!(
            report.last_used("ci", ts("2026-01-02T10:00:00.878Z")),
            Some(ts("2026-03-01T08:30:00Z"))
        );
        assert_eq!(report.last_used("ci", ts("2026-01-05T10:00:00Z")), None);
        assert_eq!(report.last_used("ci", ts("2026-01-03T10:00:00Z")), None);
        assert_eq!(report.last_used("nobody", ts("2026-01-02T10:00:00Z")), None);
        assert_eq!(report.users["<root_account>"], []);
        assert_eq!(report.users["a,b"].len(), 1, "{:?}", report.users);
        assert_eq!(report.last_used("a,b", ts("2026-02-01T00:00:00Z")), None);
    }

    #[test]
    fn ambiguous_slots_and_bad_reports() {
        let csv = format!(
            "{HEADER}\nci,arn,x,false,N/A,N/A,N/A,false,true,2026-01-02T10:00:00+00:00,2026-03-01T08:30:00+00:00,r,s,true,2026-01-02T10:00:00+00:00,2026-03-02T08:30:00+00:00,r,s,false,N/A,false,N/A\n"
        );
        let report = CredentialReport::parse(&csv).unwrap();
        assert_eq!(report.last_used("ci", ts("2026-01-02T10:00:00Z")), None);
        assert!(CredentialReport::parse("").is_err());
        assert!(CredentialReport::parse("user,arn\nci,x").is_err());
        assert_eq!(
            split_row(r#"a,"b ""q"", c",,d"#),
            ["a", r#"b "q", c"#, "", "d"]
        );
    }
}
