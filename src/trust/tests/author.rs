//! The author signature: required unless the policy waives it, exactly one, and
//! from a principal the policy lets author plans.

use super::{ALICE, BOB, CAROL, Refusal, Sig, Team, approval, author, body, judge, policy};
use crate::diff::Risk;
use crate::trust::TrustPolicy;

#[test]
fn the_author_signature_is_required_unless_the_policy_waives_it() {
    /// (case, policy edit, signatures, the author `nhi verify` names, refusal)
    type Case = (
        &'static str,
        fn(&mut TrustPolicy),
        Vec<Sig>,
        Option<&'static str>,
        Refusal,
    );
    fn open(p: &mut TrustPolicy) {
        p.required = 0;
    }
    let team = Team::new();
    let signers = team.everyone();
    let cases: Vec<Case> = vec![
        (
            "unsigned, the default",
            open,
            vec![],
            None,
            Some((
                "nhi::trust::unsigned".into(),
                "the plan has no author signature".into(),
            )),
        ),
        (
            "unsigned, waived",
            |p| {
                p.required = 0;
                p.require_author_signature = false;
            },
            vec![],
            None,
            None,
        ),
        (
            "only approvals",
            |_| {},
            vec![approval("bob", BOB, 1)],
            None,
            Some((
                "nhi::trust::unsigned".into(),
                "the plan has no author signature".into(),
            )),
        ),
        (
            "signed",
            open,
            vec![author("alice", ALICE)],
            Some(ALICE),
            None,
        ),
        (
            "two authors",
            open,
            vec![author("alice", ALICE), author("carol", CAROL)],
            None,
            Some((
                "nhi::trust::multiple_authors".into(),
                "the plan has 2 author signatures".into(),
            )),
        ),
        (
            "an author the policy does not name",
            |p| {
                p.required = 0;
                p.authors = vec![CAROL.into()];
            },
            vec![author("alice", ALICE)],
            Some(ALICE),
            Some((
                "nhi::trust::author_not_allowed".into(),
                "author `alice@example.com` may not author plans under this trust policy".into(),
            )),
        ),
        (
            "an author the policy names",
            |p| {
                p.required = 0;
                p.authors = vec![CAROL.into(), ALICE.into()];
            },
            vec![author("alice", ALICE)],
            Some(ALICE),
            None,
        ),
    ];
    for (name, edit, sigs, want_author, want) in cases {
        let mut policy = policy();
        edit(&mut policy);
        let got = judge(&body(&[Risk::Low]), &team.records(&sigs), &policy, &signers);
        assert_eq!(got.author.as_deref(), want_author, "{name}");
        assert_eq!(got.failure, want, "{name}");
    }
}
