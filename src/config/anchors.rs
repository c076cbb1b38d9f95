//! Where each declared object is written: the file and 1-based line of every
//! provider block, identity, key and binding of a configuration, by address.
//! Only the renderings that point into the files (SARIF) compute them, never
//! the plan path.

use std::collections::HashMap;
use std::path::Path;

use nhi_provider_sdk::Address;

use super::raw::RawConfig;

/// Files and lines of declared objects, by address.
#[derive(Debug, Default)]
pub struct Anchors {
    /// Address → the position of its file (0: the main one) and its line.
    lines: HashMap<String, (usize, u32)>,
    /// The included files' paths relative to the configuration's directory,
    /// by position less one.
    included: Vec<String>,
}

fn line_of<T>(spanned: &serde_saphyr::Spanned<T>) -> Option<u32> {
    u32::try_from(spanned.referenced.line())
        .ok()
        .filter(|l| *l > 0)
}

impl Anchors {
    /// The anchors of a configuration's text; none where it does not parse
    /// (every address then has no line). Included files are not read.
    pub fn of(text: &str) -> Self {
        let Some(raw) = parse(text) else {
            return Self::default();
        };
        let mut anchors = Self::default();
        let types = anchors.add_providers(&raw);
        anchors.add_identities(&raw, 0, &types);
        anchors
    }

    /// The anchors of the configuration file at `path` and of the files it
    /// includes; an included file that cannot be read or parsed anchors nothing.
    pub fn load(path: &Path) -> Self {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Self::default();
        };
        let Some(raw) = parse(&text) else {
            return Self::default();
        };
        let mut anchors = Self::default();
        let types = anchors.add_providers(&raw);
        anchors.add_identities(&raw, 0, &types);
        if raw.include.is_empty() {
            return anchors;
        }
        let name = path.display().to_string();
        let dir = super::source::dir_of(path);
        let src = super::error::Source::new(&name, &text).in_dir(&dir);
        let main = path.file_name().unwrap_or_default();
        let Ok(files) = super::include::read(&src, &dir, main, &raw.include) else {
            return anchors;
        };
        for file in files {
            let parsed = std::str::from_utf8(&file.bytes).ok().and_then(parse);
            anchors.included.push(file.relative);
            if let Some(included) = parsed {
                anchors.add_identities(&included, anchors.included.len(), &types);
            }
        }
        anchors
    }

    /// Records the provider blocks; returns their types by name.
    fn add_providers<'r>(&mut self, raw: &'r RawConfig) -> HashMap<&'r str, &'r str> {
        let lines = &mut self.lines;
        let mut types = HashMap::new();
        for block in &raw.providers {
            let (Some(name), Some(type_name)) = (&block.value.name, &block.value.type_name) else {
                continue;
            };
            types.insert(name.value.as_str(), type_name.value.as_str());
            if let Some(line) = line_of(name).or_else(|| line_of(block)) {
                lines
                    .entry(
                        Address::provider(&type_name.value, &name.value)
                            .as_str()
                            .to_owned(),
                    )
                    .or_insert((0, line));
            }
        }
        types
    }

    /// Records the identities of the `file`th file, with their keys and bindings.
    fn add_identities(&mut self, raw: &RawConfig, file: usize, types: &HashMap<&str, &str>) {
        let lines = &mut self.lines;
        for identity in &raw.identities {
            let raw_identity = &identity.value;
            let (Some(name), Some(provider)) = (&raw_identity.name, &raw_identity.provider) else {
                continue;
            };
            let Some(type_name) = types.get(provider.value.as_str()) else {
                continue;
            };
            let address = Address::provider(type_name, &provider.value).identity(&name.value);
            if let Some(line) = line_of(name).or_else(|| line_of(identity)) {
                lines
                    .entry(address.as_str().to_owned())
                    .or_insert((file, line));
            }
            for key in &raw_identity.keys {
                let Some(key_name) = &key.value.name else {
                    continue;
                };
                if let Some(line) = line_of(key_name).or_else(|| line_of(key)) {
                    lines
                        .entry(address.key(&key_name.value).as_str().to_owned())
                        .or_insert((file, line));
                }
            }
            for binding in &raw_identity.bindings {
                let Some(role) = &binding.value.role else {
                    continue;
                };
                let resource = binding
                    .value
                    .resource
                    .as_ref()
                    .map_or("*", |r| r.value.as_str());
                if let Some(line) = line_of(role).or_else(|| line_of(binding)) {
                    lines
                        .entry(address.binding(&role.value, resource).as_str().to_owned())
                        .or_insert((file, line));
                }
            }
        }
    }

    /// The line of the object at `address`; of its identity when the object
    /// is not declared (a live-only key or binding); of its provider block when
    /// the identity is not declared either (an unmanaged identity).
    pub fn line(&self, address: &Address) -> Option<u32> {
        self.location(address).map(|(_, line)| line)
    }

    /// [`Self::line`], and the file that holds it: `None` for the main file,
    /// else an included file's path relative to the configuration's directory.
    pub fn location(&self, address: &Address) -> Option<(Option<&str>, u32)> {
        let &(file, line) = self
            .lines
            .get(address.as_str())
            .or_else(|| self.lines.get(address.identity_of().as_str()))
            .or_else(|| self.lines.get(address.provider_prefix()))?;
        let file = file
            .checked_sub(1)
            .and_then(|i| self.included.get(i))
            .map(String::as_str);
        Some((file, line))
    }
}

fn parse(text: &str) -> Option<RawConfig> {
    serde_saphyr::from_str_with_options::<RawConfig>(text, super::yaml::options()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_declared_object_anchors_to_its_line_and_the_rest_to_the_nearest_declared() {
        let text = include_str!("../../examples/quickstart/nhi.yaml");
        let anchors = Anchors::of(text);
        let line = |needle: &str, after: usize| -> u32 {
            let at = text[after..].find(needle).unwrap() + after;
            u32::try_from(text[..at].matches('\n').count() + 1).unwrap()
        };
        let offset = |needle: &str| text.find(needle).unwrap();
        let demo = Address::provider("local", "demo");
        let ci = demo.identity("ci-deployer");
        let cases = [
            (demo.clone(), line("- name: demo", 0)),
            (ci.clone(), line("- name: ci-deployer", 0)),
            (
                ci.key("primary"),
                line("- name: primary", offset("- name: ci-deployer")),
            ),
            (
                ci.binding("artifact-upload", "bucket/releases"),
                line("- role: artifact-upload", 0),
            ),
            (
                demo.identity("metrics-exporter")
                    .binding("monitoring-viewer", "*"),
                line("- role: monitoring-viewer", 0),
            ),
            // Live only: the binding someone attached by hand, an unmanaged identity.
            (ci.binding("admin", "*"), line("- name: ci-deployer", 0)),
            (
                demo.identity("legacy-bot").key("LK9W"),
                line("- name: demo", 0),
            ),
        ];
        for (address, want) in cases {
            assert_eq!(anchors.line(&address), Some(want), "{address}");
        }
        assert_eq!(
            anchors.line(&Address::provider("local", "other").identity("x")),
            None
        );
    }

    #[test]
    fn text_that_does_not_parse_anchors_nothing() {
        let anchors = Anchors::of("providers: [");
        assert_eq!(anchors.line(&Address::provider("local", "demo")), None);
    }
}
