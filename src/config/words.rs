//! Words in messages: a value quoted as a message shows it, lists, and the
//! did-you-mean of a misspelt name.

/// A value from the file as a message shows it: in backticks, control characters
/// escaped, long values shortened.
pub(crate) fn quote(value: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::from("`");
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c == '`' {
            out.push_str("\\`");
        } else if nhi_provider_sdk::text::is_unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// `` `a`, `b`, `c` ``, shortened after ten.
pub(crate) fn list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let values: Vec<&str> = values.into_iter().collect();
    let mut out: Vec<String> = values.iter().take(10).map(|v| quote(v)).collect();
    if values.len() > 10 {
        out.push(format!("and {} more", values.len() - 10));
    }
    out.join(", ")
}

/// The closest candidate to a misspelt `value`, if one is close enough.
pub(crate) fn did_you_mean<'a>(
    value: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Bounded so that a pathological file cannot make error reporting quadratic.
    const MAX_CANDIDATES: usize = 1_000;
    const MAX_LEN: usize = 64;
    if value.chars().count() > MAX_LEN {
        return None;
    }
    let limit = (value.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .take(MAX_CANDIDATES)
        .filter(|c| c.chars().count() <= MAX_LEN)
        .map(|c| (edit_distance(value, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Edit distance over characters, counting a swap of neighbours as one edit
/// (optimal string alignment), since `lcoal` is a typo of `local`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("lcoal", &["local", "aws"], Some("local")),
            ("prod", &["demo", "gcp"], None),
            ("dmeo", &["demo", "gcp"], Some("demo")),
            ("a", &["b"], Some("b")),
            ("", &["demo"], None),
        ];
        for (value, candidates, want) in cases {
            assert_eq!(
                did_you_mean(value, candidates.iter().copied()),
                *want,
                "{value}"
            );
        }
    }

    #[test]
    fn quotes_and_lists_safely() {
        assert_eq!(quote("a\u{1b}[31m`"), "`a\\u{1b}[31m\\``");
        assert_eq!(quote("web\u{202e}gnp"), "`web\\u{202e}gnp`");
        assert_eq!(quote(&"x".repeat(100)), format!("`{}…`", "x".repeat(64)));
        let many: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        assert_eq!(
            list(many.iter().map(String::as_str)),
            "`0`, `1`, `2`, `3`, `4`, `5`, `6`, `7`, `8`, `9`, and 2 more"
        );
    }
}
