//! Independent jobs, numbered, run on a few threads, their results kept in the
//! jobs' order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `job(i)` for every `i` in `0..jobs` on up to `threads` threads, the
/// calling thread among them, and returns the results in the order of `i`. Each
/// thread takes the next job when it finishes one, so a slow job does not leave
/// a core idle. A panic in a job is raised again here.
pub fn map<T: Send>(jobs: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= jobs {
                return done;
            }
            done.push((i, job(i)));
        }
    };
    let mut all = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(jobs)).map(|_| scope.spawn(work)).collect();
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
    fn results_come_in_job_order_whatever_the_threads() {
        for threads in [1, 2, 3, 8] {
            for jobs in [0, 1, 2, 7, 64] {
                let got = map(jobs, threads, |i| {
                    // Earlier jobs take longer, so they finish out of order.
                    std::thread::sleep(std::time::Duration::from_micros(((64 - i) * 20) as u64));
                    i * 10
                });
                let want: Vec<usize> = (0..jobs).map(|i| i * 10).collect();
                assert_eq!(got, want, "{threads} threads, {jobs} jobs");
            }
        }
    }
}
