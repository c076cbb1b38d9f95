//! A child driven by small Python scripts that break the protocol's rules.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{CallError, Child};

fn python(script: &str, timeout: Duration) -> Child {
    let mut command = Command::new("python3");
    command.arg("-c").arg(script);
    Child::spawn(command, "script".into(), timeout).unwrap()
}

/// Answers `{"n": <id>}` to every request, the second one it reads first.
const OUT_OF_ORDER: &str = r#"
import json, sys
first = json.loads(sys.stdin.readline())
second = json.loads(sys.stdin.readline())
for request in (second, first):
    print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {"n": request["id"]}}), flush=True)
sys.stdin.readline()
"#;

#[derive(serde::Deserialize)]
struct N {
    n: u64,
}

#[test]
fn answers_of_a_concurrent_plugin_reach_their_own_calls_in_any_order() {
    let child = python(OUT_OF_ORDER, Duration::from_secs(10));
    child.answer_concurrently();
    let (a, b) = std::thread::scope(|threads| {
        let a = threads.spawn(|| child.call::<_, N>("a", "x", &(), Duration::ZERO));
        // The first request is written before the second.
        std::thread::sleep(Duration::from_millis(100));
        let b = threads.spawn(|| child.call::<_, N>("b", "x", &(), Duration::ZERO));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.unwrap().n, 1);
    assert_eq!(b.unwrap().n, 2);
}

#[test]
fn a_plugin_that_answers_a_request_nobody_made_is_broken() {
    let script = r#"
import json, sys
request = json.loads(sys.stdin.readline())
print(json.dumps({"jsonrpc": "2.0", "id": 99, "result": {"n": 99}}), flush=True)
sys.stdin.readline()
"#;
    let child = python(script, Duration::from_secs(10));
    child.answer_concurrently();
    let Err(CallError::Broken(message)) = child.call::<_, N>("a", "x", &(), Duration::ZERO) else {
        panic!("the call succeeded");
    };
    assert!(
        message
            .starts_with("plugin `script` answered request 1 with a response to 99 in `a` for `x`"),
        "{message}"
    );
    // And every later call fails the same way.
    let Err(CallError::Broken(again)) = child.call::<_, N>("b", "y", &(), Duration::ZERO) else {
        panic!("the call succeeded");
    };
    assert_eq!(again, message);
}

/// A request larger than a pipe holds, to a plugin that never reads: writing
/// it used to block the call past its deadline, for good.
#[test]
fn a_call_to_a_plugin_that_stopped_reading_fails_at_its_deadline() {
    let child = python("import time; time.sleep(30)", Duration::from_millis(500));
    let big = "x".repeat(4 << 20);
    let started = Instant::now();
    let Err(CallError::Broken(message)) =
        child.call::<_, N>("validate", "svc", &big, Duration::ZERO)
    else {
        panic!("the call succeeded");
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        message.starts_with(
            "plugin `script` did not answer within 500ms (stopped) in `validate` for `svc`"
        ),
        "{message}"
    );
}
