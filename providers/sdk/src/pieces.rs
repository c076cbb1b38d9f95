//! Work cut into pieces and run on a few threads, the results kept in order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `job(i)` for every `i` in `0..pieces` on up to `threads` threads, the
/// calling thread among them. Each thread takes the next piece when it finishes
/// one, so a slow piece does not leave a core idle. Results come in piece order;
/// a panic in a job is raised again here.
pub fn in_order<T: Send>(pieces: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= pieces {
                return done;
            }
            done.push((i, job(i)));
        }
    };
    let mut all = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(pieces))
            .map(|_| scope.spawn(work))
            .collect();
        let mut all = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, result)| result).collect()
}

/// How many threads to use for work that keeps every core busy: the cores,
/// at most four.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_piece_order_whatever_the_threads() {
        for threads in [1, 2, 3, 8] {
            for pieces in [0, 1, 2, 7, 64] {
                let got = in_order(pieces, threads, |i| {
                    // Earlier pieces take longer, so they finish out of order.
                    std::thread::sleep(std::time::Duration::from_micros(((64 - i) * 20) as u64));
                    i * 10
                });
                let want: Vec<usize> = (0..pieces).map(|i| i * 10).collect();
                assert_eq!(got, want, "{threads} threads, {pieces} pieces");
            }
        }
    }
}
