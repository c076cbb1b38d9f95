//! The trust policy's `revoke` bar: who may break glass with `nhi revoke`,
//! apart from who may approve plans.

use miette::SourceSpan;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::TrustError;

/// The bar of `nhi revoke`: `required` distinct principals among `signers`
/// must sign the revocation. Separate from the approvals of plans, so that an
/// on-call key can reduce access at once without being able to approve a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeBar {
    pub required: usize,
    pub signers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRevoke {
    #[serde(default = "super::policy::one")]
    required: Spanned<usize>,
    signers: Vec<String>,
}

/// The bar as written, checked: signers named and valid, `required` between 1
/// and their number. `invalid` underlines the text, `fail` names the file.
pub(super) fn parse(
    raw: Option<&Spanned<RawRevoke>>,
    source: &crate::config::Source<'_>,
    invalid: &dyn Fn(SourceSpan, &str, String, String) -> TrustError,
    fail: &dyn Fn(String) -> TrustError,
) -> Result<Option<RevokeBar>, TrustError> {
    let revoke = match raw {
        None => None,
        Some(bar) => {
            let span = source.span(&bar.referenced);
            let bar = &bar.value;
            let required = bar.required.value;
            if bar.signers.is_empty() {
                return Err(invalid(
                    span,
                    "`revoke.signers` is empty",
                    "nobody could revoke".into(),
                    "name the on-call principals, e.g. `revoke: {required: 1, signers: [oncall@example.com]}`, or remove `revoke` so that nobody may".into(),
                ));
            }
            if required == 0 || required > bar.signers.len() {
                return Err(invalid(
                    source.span(&bar.required.referenced),
                    &format!(
                        "`revoke.required` is {required}, but `revoke.signers` names {}",
                        bar.signers.len()
                    ),
                    "not between 1 and the number of signers".into(),
                    "set it to at least 1 and at most the number of `revoke.signers`".into(),
                ));
            }
            if let Some(bad) = bar
                .signers
                .iter()
                .find(|p| !super::statement::valid_principal(p))
            {
                return Err(fail(format!(
                    "`revoke.signers`: principal `{bad}` is not valid"
                )));
            }
            Some(RevokeBar {
                required,
                signers: bar.signers.clone(),
            })
        }
    };
    Ok(revoke)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::RevokeBar;
    use crate::trust::TrustPolicy;
    use crate::trust::policy::tests::refused;

    #[test]
    fn the_revoke_bar_is_its_own_and_checked_like_the_others() {
        let policy = TrustPolicy::parse(
            Path::new("trust.yaml"),
            "allowed_signers: a\nrevoke: {required: 2, signers: [a@x, b@x]}\n",
        )
        .unwrap();
        assert_eq!(
            policy.revoke,
            Some(RevokeBar {
                required: 2,
                signers: vec!["a@x".into(), "b@x".into()]
            })
        );
        let cases: &[(&str, &str, &str)] = &[
            (
                "allowed_signers: a\nrevoke: {signers: []}\n",
                "cannot use trust policy `ops/trust.yaml`: `revoke.signers` is empty",
                "name the on-call principals, e.g. `revoke: {required: 1, signers: [oncall@example.com]}`, or remove `revoke` so that nobody may",
            ),
            (
                "allowed_signers: a\nrevoke: {required: 3, signers: [a@x, b@x]}\n",
                "cannot use trust policy `ops/trust.yaml`: `revoke.required` is 3, but `revoke.signers` names 2",
                "set it to at least 1 and at most the number of `revoke.signers`",
            ),
            (
                "allowed_signers: a\nrevoke: {required: 0, signers: [a@x]}\n",
                "cannot use trust policy `ops/trust.yaml`: `revoke.required` is 0, but `revoke.signers` names 1",
                "set it to at least 1 and at most the number of `revoke.signers`",
            ),
            (
                "allowed_signers: a\nrevoke: {signers: [a@x], approvers: [b@x]}\n",
                "cannot use trust policy `ops/trust.yaml`: unknown field `approvers`",
                "",
            ),
        ];
        for (text, message, help) in cases {
            let (got, labels, got_help) = refused(text);
            assert_eq!(got, *message, "{text}");
            assert_eq!(labels.len(), 1, "{text}: the text is underlined");
            if !help.is_empty() {
                assert_eq!(got_help, *help, "{text}");
            }
        }
    }
}
