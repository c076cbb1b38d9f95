//! What a problem shows of a line too long to show whole: the lines around its
//! labels with each long one cut to a window around the labels on it, keeping the
//! file's line numbers and columns. miette panics on a label past column 65,535,
//! and a reviewer gains nothing from a 70,000-column line.

use std::sync::Arc;

use miette::{
    LabeledSpan, MietteError, MietteSpanContents, NamedSource, SourceCode, SourceSpan, SpanContents,
};

/// The longest line shown whole, in bytes; longer ones are cut to this much.
pub(crate) const MAX_SHOWN_LINE: usize = 240;

/// Lines shown around a label: miette shows at most this many before and after.
const CONTEXT_LINES: usize = 2;

/// Marks where a line was cut.
const CUT: &str = "…";

/// The excerpt and its labels, moved to the excerpt's offsets.
#[derive(Debug, Clone)]
pub(crate) struct Excerpt {
    name: String,
    text: String,
    /// The file's line number (from 0) of the excerpt's first line.
    first_line: usize,
    /// Per excerpt line: how many bytes of the file's line were cut before it.
    cut_before: Vec<usize>,
    labels: Vec<LabeledSpan>,
}

/// One line of the excerpt: where it is in the file and in the excerpt.
struct Piece {
    /// The line in the file, without its line break.
    line: (usize, usize),
    /// The part of it shown.
    shown: (usize, usize),
    /// Where the shown part starts in the excerpt, after any cut mark.
    at: usize,
}

impl Piece {
    /// The excerpt offset of a file offset on this line (or at its break):
    /// offsets in a cut part move to the cut mark.
    fn map(&self, offset: usize) -> usize {
        if offset < self.shown.0 {
            self.at
                - if self.shown.0 > self.line.0 {
                    CUT.len()
                } else {
                    0
                }
        } else if offset <= self.shown.1 {
            self.at + (offset - self.shown.0)
        } else {
            self.at + (self.shown.1 - self.shown.0) + CUT.len()
        }
    }
}

impl Excerpt {
    /// The excerpt for `labels` of `src`, or `None` when every line it would
    /// show is short enough to show as it is.
    pub(crate) fn of(src: &NamedSource<Arc<str>>, labels: &[LabeledSpan]) -> Option<Self> {
        let text: &str = src.inner();
        let start = labels
            .iter()
            .map(LabeledSpan::offset)
            .min()?
            .min(text.len());
        let end = labels
            .iter()
            .map(|l| l.offset().saturating_add(l.len()))
            .max()?
            .min(text.len());
        // Spans from the parser fall on character boundaries; others must not panic.
        let start = floor_boundary(text, start);
        let end = floor_boundary(text, end).max(start);
        let from = line_start_before(text, start, CONTEXT_LINES);
        let to = line_end_after(text, end, CONTEXT_LINES);
        let region = &text[from..to];
        if region.split('\n').all(|line| line.len() <= MAX_SHOWN_LINE) {
            return None;
        }
        let mut out = Self {
            name: src.name().to_owned(),
            text: String::with_capacity(region.len().min(64 * MAX_SHOWN_LINE)),
            first_line: text[..from].matches('\n').count(),
            cut_before: Vec::new(),
            labels: Vec::with_capacity(labels.len()),
        };
        let mut pieces = Vec::new();
        let mut line_start = from;
        for line in region.split('\n') {
            let line = (line_start, line_start + line.len());
            let shown = window(text, line, labels);
            if shown.0 > line.0 {
                out.text.push_str(CUT);
            }
            let at = out.text.len();
            out.text.push_str(&text[shown.0..shown.1]);
            if shown.1 < line.1 {
                out.text.push_str(CUT);
            }
            out.cut_before.push(shown.0 - line.0);
            pieces.push(Piece { line, shown, at });
            if line.1 < to {
                out.text.push('\n');
            }
            line_start = line.1 + 1;
        }
        let map = |offset: usize| {
            let i = pieces.partition_point(|p| p.line.1 < offset);
            pieces.get(i).map_or(out.text.len(), |p| p.map(offset))
        };
        for label in labels {
            let start = map(label.offset().min(text.len()));
            let end = map(label.offset().saturating_add(label.len()).min(text.len())).max(start);
            let span = SourceSpan::new(start.into(), end - start);
            let text = label.label().map(str::to_owned);
            out.labels.push(if label.primary() {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            });
        }
        Some(out)
    }

    pub(crate) fn labels(&self) -> &[LabeledSpan] {
        &self.labels
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        // miette counts columns in bytes from the start of the line; a cut line
        // starts with the mark in place of the bytes cut.
        let cut = self.cut_before.get(inner.line()).copied().unwrap_or(0);
        let column = if cut > 0 && inner.column() >= CUT.len() {
            inner.column() - CUT.len() + cut
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

/// The part of a line that is shown: all of a short line; of a long one, a
/// window that starts a little before the first label on it.
fn window(text: &str, line: (usize, usize), labels: &[LabeledSpan]) -> (usize, usize) {
    if line.1 - line.0 <= MAX_SHOWN_LINE {
        return line;
    }
    let anchor = labels
        .iter()
        .map(LabeledSpan::offset)
        .filter(|&o| o >= line.0 && o <= line.1)
        .min()
        .unwrap_or(line.0);
    let start = floor_boundary(text, anchor.saturating_sub(MAX_SHOWN_LINE / 4).max(line.0));
    let end = floor_boundary(text, (start + MAX_SHOWN_LINE).min(line.1));
    (start, end)
}

/// The start of the line `lines` lines above the one holding `offset`.
fn line_start_before(text: &str, offset: usize, lines: usize) -> usize {
    let mut start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    for _ in 0..lines {
        if start == 0 {
            break;
        }
        start = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
    }
    start
}

/// The end (before its break) of the line `lines` lines below the one holding
/// `offset`.
fn line_end_after(text: &str, offset: usize, lines: usize) -> usize {
    let mut end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    for _ in 0..lines {
        if end == text.len() {
            break;
        }
        end = text[end + 1..]
            .find('\n')
            .map_or(text.len(), |i| end + 1 + i);
    }
    end
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(excerpt: &Excerpt) -> String {
        struct Shown<'a>(&'a Excerpt);
        impl std::fmt::Debug for Shown<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("problem")
            }
        }
        impl std::fmt::Display for Shown<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("problem")
            }
        }
        impl std::error::Error for Shown<'_> {}
        impl miette::Diagnostic for Shown<'_> {
            fn source_code(&self) -> Option<&dyn SourceCode> {
                Some(self.0)
            }
            fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
                Some(Box::new(self.0.labels.iter().cloned()))
            }
        }
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(400)
            .render_report(&mut out, &Shown(excerpt))
            .unwrap();
        out
    }

    #[test]
    fn a_label_past_column_65535_is_shown_cut_with_its_true_position() {
        let long = format!("b: \"{}\" c", "x".repeat(70_000));
        let text: Arc<str> = format!("a: 1\n{long}\nd: 2\n").into();
        let at = 5 + long.len() - 1;
        let src = NamedSource::new("nhi.yaml", Arc::clone(&text));
        let labels = vec![LabeledSpan::new_primary_with_span(
            Some("here".into()),
            SourceSpan::new(at.into(), 1),
        )];
        let excerpt = Excerpt::of(&src, &labels).unwrap();
        let shown = render(&excerpt);
        assert!(shown.contains("[nhi.yaml:2:70007]"), "{shown}");
        assert!(shown.contains(" 2 │ …xxx"), "{shown}");
        assert!(
            shown.lines().all(|l| l.len() < 2 * MAX_SHOWN_LINE),
            "{shown}"
        );
        let contents = excerpt
            .read_span(&excerpt.labels[0].inner().clone(), 0, 0)
            .unwrap();
        assert_eq!((contents.line(), contents.column()), (1, 70_006));
    }

    proptest::proptest! {
        /// Any labels on any text, long lines and multi-byte characters
        /// included, render without a panic, within bounds.
        #[test]
        fn any_labels_render(
            lines in proptest::collection::vec((0usize..2_000, proptest::bool::ANY), 1..6),
            labels in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), 0usize..600), 1..4),
        ) {
            let text: String = lines
                .iter()
                .map(|&(len, wide)| if wide { "é".repeat(len) } else { "x".repeat(len) })
                .collect::<Vec<_>>()
                .join("\n");
            let text: Arc<str> = text.into();
            let src = NamedSource::new("nhi.yaml", Arc::clone(&text));
            let labels: Vec<LabeledSpan> = labels
                .iter()
                .enumerate()
                .map(|(i, (at, len))| {
                    let at = at.index(text.len() + 1);
                    let len = (*len).min(text.len() - at);
                    let span = SourceSpan::new(at.into(), len);
                    if i == 0 {
                        LabeledSpan::new_primary_with_span(Some("here".into()), span)
                    } else {
                        LabeledSpan::new_with_span(None, span)
                    }
                })
                .collect();
            if let Some(excerpt) = Excerpt::of(&src, &labels) {
                let shown = render(&excerpt);
                proptest::prop_assert!(shown.lines().all(|l| l.chars().count() < 3 * MAX_SHOWN_LINE), "{shown}");
            }
        }
    }

    #[test]
    fn short_lines_need_no_excerpt() {
        let src = NamedSource::new("nhi.yaml", Arc::<str>::from("a: 1\nb: 2\n"));
        let labels = vec![LabeledSpan::new_primary_with_span(
            None,
            SourceSpan::new(5.into(), 1),
        )];
        assert!(Excerpt::of(&src, &labels).is_none());
    }
}
