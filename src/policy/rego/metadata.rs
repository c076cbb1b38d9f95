//! `# METADATA` annotations of `deny` and `warn` rules, read from the source
//! text: regorus 0.14 parses comments away, so the block of `#` lines just above
//! a rule is taken apart here, as OPA does (YAML after a `# METADATA` line).

use serde::Deserialize;

use crate::policy::Severity;

/// What the annotation of one rule says that nhi uses; other OPA annotation
/// fields (`title`, `description`, `scope`, ...) are allowed and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Annotation {
    pub id: String,
    pub severity: Severity,
}

#[derive(Deserialize)]
struct Raw {
    custom: Option<RawCustom>,
}

#[derive(Deserialize)]
struct RawCustom {
    id: Option<String>,
    severity: Option<String>,
}

/// Why the annotation of a rule is unusable, and the 1-based line to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnnotationError {
    pub line: u32,
    pub detail: String,
}

/// The annotation of the rule whose head starts on 1-based `line` of `text`.
pub(crate) fn annotation(text: &str, line: u32) -> Result<Annotation, AnnotationError> {
    let lines: Vec<&str> = text.lines().collect();
    let head = (line as usize).saturating_sub(1).min(lines.len());
    // The comment block that ends just above the rule's head.
    let mut start = head;
    while start > 0 && lines[start - 1].trim_start().starts_with('#') {
        start -= 1;
    }
    let block = &lines[start..head];
    let missing = || AnnotationError {
        line,
        detail: "the rule has no `# METADATA` block with `custom: {id, severity}` just above it"
            .into(),
    };
    let Some(at) = block
        .iter()
        .rposition(|l| uncomment(l).trim() == "METADATA")
    else {
        return Err(missing());
    };
    let mut yaml = String::new();
    for l in &block[at + 1..] {
        yaml.push_str(uncomment(l));
        yaml.push('\n');
    }
    let block_line = u32::try_from(start + at + 1).unwrap_or(line);
    let raw: Raw = serde_saphyr::from_str(&yaml).map_err(|e| AnnotationError {
        line: block_line,
        detail: format!("its `# METADATA` block is not YAML: {e}"),
    })?;
    let custom = raw.custom.ok_or_else(missing)?;
    let id = custom.id.ok_or_else(|| AnnotationError {
        line: block_line,
        detail: "its `# METADATA` block has no `custom.id`".into(),
    })?;
    if !is_kebab(&id) {
        return Err(AnnotationError {
            line: block_line,
            detail: format!("`custom.id` `{id}` is not kebab-case (`a-z`, `0-9`, single `-`)"),
        });
    }
    let severity = custom.severity.ok_or_else(|| AnnotationError {
        line: block_line,
        detail: "its `# METADATA` block has no `custom.severity`".into(),
    })?;
    let severity = Severity::parse(&severity).ok_or_else(|| AnnotationError {
        line: block_line,
        detail: format!("`custom.severity` `{severity}` is not one of low, medium, high, critical"),
    })?;
    Ok(Annotation { id, severity })
}

/// A comment line without its `#` and the one space after it.
fn uncomment(line: &str) -> &str {
    let rest = line.trim_start().strip_prefix('#').unwrap_or(line);
    rest.strip_prefix(' ').unwrap_or(rest)
}

pub(crate) fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty() && part.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_block_just_above_the_rule() {
        let text = "package nhi.x\n\n# METADATA\n# title: No keys\n# custom:\n#   id: no-keys\n#   severity: high\ndeny contains m if { m := \"x\" }\n";
        assert_eq!(
            annotation(text, 8),
            Ok(Annotation {
                id: "no-keys".into(),
                severity: Severity::High
            })
        );
    }

    #[test]
    fn refuses_what_is_missing_or_wrong() {
        let cases = [
            ("deny contains m if { m := 1 }\n", 1, "no `# METADATA`", 1),
            (
                "# a comment\ndeny contains m if { m := 1 }\n",
                2,
                "no `# METADATA`",
                2,
            ),
            (
                "# METADATA\n# custom:\n#   severity: high\ndeny contains m if { m := 1 }\n",
                4,
                "no `custom.id`",
                1,
            ),
            (
                "# METADATA\n# custom:\n#   id: No_Keys\n#   severity: high\ndeny contains m if { m := 1 }\n",
                5,
                "not kebab-case",
                1,
            ),
            (
                "# METADATA\n# custom:\n#   id: x\n#   severity: severe\ndeny contains m if { m := 1 }\n",
                5,
                "not one of",
                1,
            ),
            (
                "# METADATA\n# custom: [\ndeny contains m if { m := 1 }\n",
                3,
                "not YAML",
                1,
            ),
        ];
        for (text, line, want, at) in cases {
            let err = annotation(text, line).unwrap_err();
            assert!(err.detail.contains(want), "{text}: {}", err.detail);
            assert_eq!(err.line, at, "{text}");
        }
    }

    #[test]
    fn kebab_ids() {
        for (id, ok) in [
            ("a", true),
            ("ci-no-keys", true),
            ("a1-2b", true),
            ("", false),
            ("-a", false),
            ("a--b", false),
            ("A", false),
            ("a_b", false),
        ] {
            assert_eq!(is_kebab(id), ok, "{id}");
        }
    }
}
