//! The environment nhi reads, read once when the command line starts: nothing
//! below `cli/` reads environment variables.

use std::ffi::OsString;
use std::path::PathBuf;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Environment variables nhi honours.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    /// `NHI_NOW`: a fixed planning clock (RFC 3339).
    pub now: Option<String>,
    /// `NHI_AUTHOR`, else `USER`: who plans or applies without a key.
    pub user: Option<String>,
    /// `NO_COLOR` set and not empty.
    pub no_color: bool,
    /// `TERM=dumb`: a terminal that shows escape codes as text.
    pub term_dumb: bool,
    /// `NHI_TRUST` set and not empty.
    pub trust: Option<PathBuf>,
    /// `XDG_CONFIG_HOME` and `HOME`, for the default trust policy path.
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `SSH_AUTH_SOCK`: the ssh-agent `.pub` keys sign through.
    pub ssh_auth_sock: Option<PathBuf>,
    /// `AWS_ENDPOINT_URL`, for `nhi audit verify s3://…` without a trust
    /// policy that names the bucket (addressed path-style).
    pub aws_endpoint_url: Option<String>,
}

impl Environment {
    pub(crate) fn read() -> Self {
        let path = |name: &str| std::env::var_os(name).map(PathBuf::from);
        Self {
            now: std::env::var("NHI_NOW").ok(),
            user: std::env::var("NHI_AUTHOR")
                .or_else(|_| std::env::var("USER"))
                .ok(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            term_dumb: std::env::var_os("TERM").is_some_and(|v| v == "dumb"),
            trust: std::env::var_os("NHI_TRUST")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            xdg_config_home: path("XDG_CONFIG_HOME"),
            home: path("HOME"),
            ssh_auth_sock: std::env::var_os("SSH_AUTH_SOCK").map(|v: OsString| PathBuf::from(v)),
            aws_endpoint_url: std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }

    /// Whether to colour: forced on or off, or `None` for "when the stream is a
    /// terminal". `--color always|never` wins over the environment (as
    /// no-color.org asks); `auto` gives way to `NO_COLOR` and `TERM=dumb`.
    pub(crate) fn color(&self, choice: ColorChoice) -> Option<bool> {
        match choice {
            ColorChoice::Always => Some(true),
            ColorChoice::Never => Some(false),
            ColorChoice::Auto if self.no_color || self.term_dumb => Some(false),
            ColorChoice::Auto => None,
        }
    }

    /// Who acts when no key names them.
    pub(crate) fn user(&self) -> String {
        self.user.clone().unwrap_or_else(|| "unknown".to_owned())
    }

    /// Where the trust policy is looked for, given `--trust`.
    pub(crate) fn trust_location(
        &self,
        flag: Option<&std::path::Path>,
    ) -> crate::trust::PolicyLocation {
        crate::trust::PolicyLocation {
            flag: flag.map(std::path::Path::to_path_buf),
            env: self.trust.clone(),
            default: crate::trust::default_path(
                self.xdg_config_home.as_deref(),
                self.home.as_deref(),
            ),
        }
    }

    /// Opens `--key`, through the ssh-agent for a `.pub` key.
    pub(crate) fn signer(
        &self,
        key: &std::path::Path,
    ) -> Result<crate::trust::Signer, crate::trust::TrustError> {
        crate::trust::Signer::open(key, self.ssh_auth_sock.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_follows_the_flag_then_no_color_and_term_dumb() {
        use ColorChoice::{Always, Auto, Never};
        let cases = [
            // (choice, NO_COLOR, TERM=dumb, colour)
            (Auto, false, false, None),
            (Auto, true, false, Some(false)),
            (Auto, false, true, Some(false)),
            (Always, true, true, Some(true)),
            (Never, false, false, Some(false)),
        ];
        for (choice, no_color, term_dumb, want) in cases {
            let env = Environment {
                no_color,
                term_dumb,
                ..Environment::default()
            };
            assert_eq!(env.color(choice), want, "{choice:?} {no_color} {term_dumb}");
        }
    }
}
