//! Expiry: a plan's own expiry time, the policy's maximum age, and when in
//! judging expiry is checked.

use super::{
    ALICE, BOB, Refusal, Sig, Team, approval, author, body, created, digest, insufficient, mins,
    now, policy, shown,
};
use crate::diff::Risk;
use crate::plan::PlanBody;
use crate::trust::{TrustPolicy, check_time, judge_plan};

#[test]
fn plans_expire_by_their_own_time_and_the_policys_max_age() {
    let expired = |expires_at: jiff::Timestamp| {
        Some((
            "nhi::plan::expired".to_owned(),
            format!("the plan expired at {expires_at} (now {})", now()),
        ))
    };
    // (case, created, valid for (minutes), max_plan_age, failure)
    let cases: Vec<(&str, jiff::Timestamp, i64, Option<&str>, Refusal)> = vec![
        ("fresh", created(), 24 * 60, None, None),
        (
            "past its expiry",
            now() - mins(24 * 60),
            24 * 60,
            None,
            expired(now()),
        ),
        (
            "long past its expiry",
            now() - mins(25 * 60),
            24 * 60,
            None,
            expired(now() - mins(60)),
        ),
        (
            "younger than the policy's max age",
            created(),
            30 * 24 * 60,
            Some("12h"),
            None,
        ),
        (
            "older than the policy's max age, though valid for longer",
            now() - mins(13 * 60),
            30 * 24 * 60,
            Some("12h"),
            expired(now() - mins(60)),
        ),
        (
            "a max age longer than the plan's own validity",
            now() - mins(25 * 60),
            24 * 60,
            Some("30d"),
            expired(now() - mins(60)),
        ),
        (
            "created within the skew ahead of now",
            now() + mins(4),
            60,
            None,
            None,
        ),
        (
            "created in the future",
            now() + mins(6),
            60,
            None,
            Some((
                "nhi::plan::expired".into(),
                format!(
                    "the plan was created at {}, in the future (now {})",
                    now() + mins(6),
                    now()
                ),
            )),
        ),
    ];
    for (name, created_at, valid, max_age, want) in cases {
        let body = PlanBody {
            created_at,
            expires_at: created_at + mins(valid),
            ..body(&[Risk::Low])
        };
        let policy = TrustPolicy {
            max_plan_age: max_age.map(|a| a.parse().unwrap()),
            ..policy()
        };
        let got = check_time(&body, &policy, now()).err();
        assert_eq!(got.as_ref().map(shown), want, "{name}");
    }
}

#[test]
fn expiry_is_judged_after_signatures_and_approvals() {
    let team = Team::new();
    let signers = team.everyone();
    let old = PlanBody {
        created_at: now() - mins(25 * 60),
        expires_at: now() - mins(60),
        ..body(&[Risk::Low])
    };
    let offset = |m: i64| -24 * 60 + m;
    let author = Sig {
        minutes: offset(0),
        ..author("alice", ALICE)
    };
    let bob = approval("bob", BOB, offset(1));
    let judged = |sigs: &[Sig]| {
        judge_plan(
            &old,
            &digest(),
            &team.records(sigs),
            &policy(),
            &signers,
            now(),
        )
        .1
        .as_ref()
        .map(shown)
    };
    assert_eq!(
        judged(&[author]),
        Some(insufficient(
            0,
            1,
            "the policy requires 1 distinct approver"
        ))
    );
    assert_eq!(
        judged(&[author, bob]),
        Some((
            "nhi::plan::expired".into(),
            format!("the plan expired at {} (now {})", now() - mins(60), now()),
        ))
    );
}
