//! The kit's checks of how a plugin's failures reach the user: a call to a
//! plugin that hangs fails at its deadline, and one to a plugin that dies fails
//! with its exit status, each naming the plugin, the method and the object, and
//! every later call fails the same way. Each runs against an instance of the
//! plugin started alone for it, which it suspends or kills.

use std::time::{Duration, Instant};

use nhi_provider_plugin::{PluginType, plugin_own};
use serde_json::json;

use super::checks::{BLOCK, Kit};

/// The deadline of the hung call: short, so the check is quick.
const DEADLINE_MS: u64 = 500;
/// How much later than its deadline a hung call may fail: the host waits for
/// the stopped plugin to exit, then kills it.
const SLACK: Duration = Duration::from_secs(5);

impl Kit<'_> {
    /// An instance of the plugin of its own, with calls due within `timeout_ms`,
    /// and the handle of the kit's block connected on it.
    fn alone(&self, timeout_ms: u64) -> Result<(PluginType, u64), String> {
        let mut settings = self.settings.clone();
        settings["plugin"]["timeout_ms"] = json!(timeout_ms);
        let scratch = &self.options.scratch;
        let alone = PluginType::start_alone(&settings, scratch)?;
        let params = json!({
            "name": BLOCK,
            "settings": plugin_own(&settings),
            "base_dir": scratch.to_string_lossy(),
        });
        let handle = match alone.raw_call("connect", BLOCK, &params)? {
            Ok(answer) => answer
                .get("provider")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("`connect` answered without a provider handle: {answer}"))?,
            Err((code, message)) => {
                return Err(format!("`connect` failed: error {code}: {message}"));
            }
        };
        Ok((alone, handle))
    }

    /// The failure of `describe` on `alone`, and that the next call fails with
    /// the same words.
    fn broken_describe(alone: &PluginType, handle: u64) -> Result<String, String> {
        let message = match alone.raw_call("describe", BLOCK, &json!({"provider": handle})) {
            Err(message) => message,
            Ok(answer) => {
                return Err(format!(
                    "the plugin answered `describe` though it could not: {answer:?}"
                ));
            }
        };
        match alone.raw_call("describe", BLOCK, &json!({"provider": handle})) {
            Err(again) if again == message => Ok(message),
            other => Err(format!(
                "after `{message}`, the next call did not fail the same way: {other:?}"
            )),
        }
    }

    pub(super) fn deadline(&mut self) -> Result<String, String> {
        let (alone, handle) = self.alone(DEADLINE_MS)?;
        alone.suspend()?;
        let started = Instant::now();
        let message = Self::broken_describe(&alone, handle)?;
        let took = started.elapsed();
        let want = format!(
            "plugin `{}` did not answer within {DEADLINE_MS}ms (stopped) in `describe` for `{BLOCK}`",
            self.name
        );
        if !message.starts_with(&want) {
            return Err(format!("expected `{want}…`, got `{message}`"));
        }
        if took > Duration::from_millis(DEADLINE_MS) + SLACK {
            return Err(format!(
                "a call due in {DEADLINE_MS}ms failed only after {}ms",
                took.as_millis()
            ));
        }
        Ok(format!(
            "failed after {}ms, naming plugin, method and object",
            took.as_millis()
        ))
    }

    pub(super) fn crash(&mut self) -> Result<String, String> {
        let (alone, handle) = self.alone(self.options.timeout_ms)?;
        // Suspended, it cannot answer before it dies: the call is in flight
        // when the plugin is killed.
        alone.suspend()?;
        let message = std::thread::scope(|scope| {
            let killer = scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                alone.kill()
            });
            let message = Self::broken_describe(&alone, handle);
            killer
                .join()
                .map_err(|_| "the thread that kills the plugin failed".to_owned())??;
            message
        })?;
        let want = format!(
            "plugin `{}` closed its standard output in `describe` for `{BLOCK}`; it exited with signal: 9",
            self.name
        );
        if !message.starts_with(&want) {
            return Err(format!("expected `{want}…`, got `{message}`"));
        }
        Ok("killed mid-call: failed with its exit status, naming plugin, method and object".into())
    }
}
