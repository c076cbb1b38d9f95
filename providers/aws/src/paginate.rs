//! Marker-based pagination as IAM does it: call again with the marker of the
//! previous page while the answer is truncated.

use std::collections::HashSet;
use std::future::Future;

use nhi_provider_sdk::ProviderError;

/// Guards against a server that never stops paging.
const MAX_PAGES: usize = 100_000;

/// One page and the marker of the next, `None` on the last page.
pub(crate) type Page<P> = (P, Option<String>);

/// The next marker of an IAM answer: `Some` only when it says it is truncated.
pub(crate) fn next_marker(
    what: &str,
    is_truncated: bool,
    marker: Option<&str>,
) -> Result<Option<String>, ProviderError> {
    match (is_truncated, marker) {
        (false, _) => Ok(None),
        (true, Some(marker)) if !marker.is_empty() => Ok(Some(marker.to_owned())),
        (true, _) => Err(ProviderError::Corrupt(format!(
            "{what} says more pages follow but gives no marker"
        ))),
    }
}

/// Every page, in order: `fetch(None)` first, then `fetch(Some(marker))` until a
/// page has no next marker. A marker seen twice is an error, not a loop.
pub(crate) async fn all_pages<P, F, Fut>(what: &str, mut fetch: F) -> Result<Vec<P>, ProviderError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<P>, ProviderError>>,
{
    let mut pages = Vec::new();
    let mut seen = HashSet::new();
    let mut marker = None;
    loop {
        let (page, next) = fetch(marker).await?;
        pages.push(page);
        match next {
            None => return Ok(pages),
            Some(next) if !seen.insert(next.clone()) || pages.len() >= MAX_PAGES => {
                return Err(ProviderError::Corrupt(format!(
                    "{what} keeps returning more pages (marker `{next}` again)"
                )));
            }
            Some(next) => marker = Some(next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A fake API over `items` that answers `size` per page with numeric markers.
    fn fetch(
        items: &[u32],
        size: usize,
        calls: &RefCell<Vec<Option<String>>>,
        marker: Option<&str>,
    ) -> Result<Page<Vec<u32>>, ProviderError> {
        calls.borrow_mut().push(marker.map(str::to_owned));
        let start: usize = marker.map_or(0, |m| m.parse().unwrap());
        let end = (start + size).min(items.len());
        let truncated = end < items.len();
        let next = end.to_string();
        let next = next_marker("ListThings", truncated, truncated.then_some(next.as_str()))?;
        Ok((items[start..end].to_vec(), next))
    }

    #[tokio::test]
    async fn pages_until_not_truncated() {
        let items: Vec<u32> = (0..7).collect();
        for (size, want_calls) in [(3, 3), (7, 1), (100, 1), (1, 7)] {
            let calls = RefCell::new(Vec::new());
            let pages = all_pages("ListThings", |m| {
                std::future::ready(fetch(&items, size, &calls, m.as_deref()))
            })
            .await
            .unwrap();
            assert_eq!(pages.concat(), items, "size {size}");
            assert_eq!(calls.borrow().len(), want_calls, "size {size}");
            assert_eq!(calls.borrow()[0], None);
        }
        let empty = RefCell::new(Vec::new());
        let pages = all_pages("ListThings", |m| {
            std::future::ready(fetch(&[], 3, &empty, m.as_deref()))
        })
        .await
        .unwrap();
        assert_eq!(pages, [Vec::<u32>::new()]);
    }

    #[tokio::test]
    async fn broken_servers_are_errors() {
        let err = all_pages("ListThings", |_| async {
            Ok::<_, ProviderError>(((), Some("same".to_owned())))
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("marker `same` again"), "{err}");
        assert!(next_marker("ListThings", true, None).is_err());
        assert!(next_marker("ListThings", true, Some("")).is_err());
        assert_eq!(next_marker("ListThings", false, Some("x")).unwrap(), None);
        let failing = all_pages("ListThings", |_| async {
            Err::<Page<()>, _>(ProviderError::Other("boom".into()))
        })
        .await;
        assert!(failing.is_err());
    }
}
