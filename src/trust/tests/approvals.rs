//! Counting approvals: once per distinct principal and key, never the author's
//! own unless the policy says so, the earliest first.

use super::{
    ALICE, BOB, CAROL, Judged, Refusal, Sig, Team, approval, author, body, insufficient, judge,
    policy,
};
use crate::diff::Risk;
use crate::trust::{AllowedSigners, TrustPolicy};

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn approvals_count_once_per_distinct_principal_and_key() {
    /// (case, required, `author_counts`, signers, approvals, counted, ignored, refusal)
    type Case<'a> = (
        &'a str,
        usize,
        bool,
        &'a AllowedSigners,
        Vec<Sig>,
        Vec<&'a str>,
        Vec<(&'a str, &'a str)>,
        Refusal,
    );
    let team = Team::new();
    let everyone = team.everyone();
    // Bob's key listed under a second principal; alice's under a bot principal.
    let aliases = team.signers(&[
        ("alice@example.com", "", "alice"),
        ("alice-bot@example.com", "", "alice"),
        ("bob@example.com,robert@example.com", "", "bob"),
        ("carol@example.com", "", "carol"),
    ]);
    let ignored_own = "the author cannot approve their own plan";
    let ignored_again = "this principal already approved";
    let ignored_key = "this key already approved under another principal";
    let cases: Vec<Case<'_>> = vec![
        (
            "two reviewers",
            2,
            false,
            &everyone,
            vec![approval("bob", BOB, 1), approval("carol", CAROL, 2)],
            vec![BOB, CAROL],
            vec![],
            None,
        ),
        (
            "the author approving",
            1,
            false,
            &everyone,
            vec![approval("alice", ALICE, 1)],
            vec![],
            vec![(ALICE, ignored_own)],
            Some(insufficient(
                0,
                1,
                "the policy requires 1 distinct approver",
            )),
        ),
        (
            "the author approving, and the policy lets the author count",
            1,
            true,
            &everyone,
            vec![approval("alice", ALICE, 1)],
            vec![ALICE],
            vec![],
            None,
        ),
        (
            "the author's key under another principal",
            1,
            false,
            &aliases,
            vec![approval("alice", "alice-bot@example.com", 1)],
            vec![],
            vec![("alice-bot@example.com", ignored_own)],
            Some(insufficient(
                0,
                1,
                "the policy requires 1 distinct approver",
            )),
        ),
        (
            "the same reviewer twice with one key",
            2,
            false,
            &everyone,
            vec![approval("bob", BOB, 1), approval("bob", BOB, 2)],
            vec![BOB],
            vec![(BOB, ignored_again)],
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "a second key of the same principal",
            2,
            false,
            &everyone,
            vec![approval("bob", BOB, 1), approval("bob2", BOB, 2)],
            vec![BOB],
            vec![(BOB, ignored_again)],
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "one key under two principals",
            2,
            false,
            &aliases,
            vec![
                approval("bob", BOB, 1),
                approval("bob", "robert@example.com", 2),
            ],
            vec![BOB],
            vec![("robert@example.com", ignored_key)],
            Some(insufficient(
                1,
                2,
                "the policy requires 2 distinct approvers",
            )),
        ),
        (
            "the earliest approval counts, whatever the order in the file",
            2,
            false,
            &aliases,
            vec![
                approval("bob", "robert@example.com", 3),
                approval("carol", CAROL, 2),
                approval("bob", BOB, 1),
            ],
            vec![BOB, CAROL],
            vec![("robert@example.com", ignored_key)],
            None,
        ),
        (
            "no approvals needed",
            0,
            false,
            &everyone,
            vec![],
            vec![],
            vec![],
            None,
        ),
    ];
    for (name, required, author_counts, signers, approvals, counted, ignored, failure) in cases {
        let policy = TrustPolicy {
            required,
            author_counts,
            ..policy()
        };
        let mut sigs = vec![author("alice", ALICE)];
        sigs.extend(approvals);
        let got = judge(&body(&[Risk::Low]), &team.records(&sigs), &policy, signers);
        let want = Judged {
            author: Some(ALICE.into()),
            counted: strings(&counted),
            ignored: ignored
                .iter()
                .map(|(p, why)| ((*p).to_owned(), (*why).to_owned()))
                .collect(),
            required,
            failure,
        };
        assert_eq!(got, want, "{name}");
    }
}
