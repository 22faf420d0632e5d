//! Retries with jittered exponential backoff, and which Kubernetes errors are worth retrying.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of one delay.
    pub max: Duration,
    /// Attempts in total (the first try included); at least 1.
    pub max_attempts: u32,
    /// Jitter as a fraction of the delay: a delay `d` becomes a uniform value in
    /// `[d·(1−jitter), d·(1+jitter)]`, capped at `max`.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 200 ms doubling to 10 s, 8 attempts, ±30 % jitter.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            max_attempts: 8,
            jitter: 0.3,
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (1 = the first retry), with the jitter drawn from
    /// `rng`.
    pub fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1u32 << exp).min(self.max);
        let j = self.jitter.clamp(0.0, 1.0);
        let factor = if j > 0.0 {
            rng.random_range((1.0 - j)..=(1.0 + j))
        } else {
            1.0
        };
        base.mul_f64(factor).min(self.max)
    }
}

/// Whether a failed call may succeed when tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transience {
    /// Retrying will not help (4xx other than 429, bad request, decode errors).
    Permanent,
    /// Retry; the server may have said how long to wait (`Retry-After` / `retryAfterSeconds`).
    Transient(Option<Duration>),
}

/// Classifies a kube client error: 429 and 5xx answers and transport errors (connection reset,
/// closed pooled connection, timeouts) are transient; everything else is permanent.
pub fn classify(err: &kube::Error) -> Transience {
    match err {
        kube::Error::Api(status) => {
            let after = status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)));
            match status.code {
                429 | 500 | 502 | 503 | 504 => Transience::Transient(after),
                _ => Transience::Permanent,
            }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Transience::Transient(None)
        }
        _ => Transience::Permanent,
    }
}

/// Runs `op` until it succeeds, fails permanently, or `backoff.max_attempts` are used up.
/// A server-provided wait is honoured (but never shorter than the computed backoff).
pub async fn retry<T, F, Fut>(backoff: &Backoff, what: &str, mut op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let attempts = backoff.max_attempts.max(1);
    let mut tried = 0;
    loop {
        tried += 1;
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let Transience::Transient(after) = classify(&e) else {
                    return Err(e);
                };
                if tried >= attempts {
                    return Err(e);
                }
                let d = backoff.delay(tried, &mut rand::rng());
                let d = after.map_or(d, |a| a.max(d));
                tracing::debug!(what, attempt = tried, delay_ms = d.as_millis() as u64, error = %e, "transient Kubernetes API error; retrying");
                tokio::time::sleep(d).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{Status, StatusDetails};
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api(code: u16, retry_after: u32) -> kube::Error {
        let mut s = Status::failure("x", "y").with_code(code);
        if retry_after > 0 {
            let d: StatusDetails =
                serde_json::from_value(serde_json::json!({ "retryAfterSeconds": retry_after }))
                    .unwrap();
            s.details = Some(d);
        }
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: 10,
            jitter: 0.0,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let d: Vec<_> = (1..=6).map(|n| b.delay(n, &mut rng).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
        let j = Backoff { jitter: 0.5, ..b };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let d = j.delay(2, &mut rng).as_millis();
            assert!((100..=300).contains(&d), "{d}");
            seen.insert(d);
        }
        assert!(seen.len() > 5, "jitter must vary the delay: {seen:?}");
    }

    #[test]
    fn classification() {
        assert_eq!(classify(&api(500, 0)), Transience::Transient(None));
        assert_eq!(classify(&api(503, 0)), Transience::Transient(None));
        assert_eq!(
            classify(&api(429, 3)),
            Transience::Transient(Some(Duration::from_secs(3)))
        );
        assert_eq!(classify(&api(409, 0)), Transience::Permanent);
        assert_eq!(classify(&api(404, 0)), Transience::Permanent);
        assert_eq!(classify(&api(422, 0)), Transience::Permanent);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(
            classify(&kube::Error::ReadEvents(io)),
            Transience::Transient(None)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_then_succeeds_and_stops_on_permanent() {
        let b = Backoff::default();
        let n = AtomicU32::new(0);
        let r = retry(&b, "t", || async {
            if n.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(api(429, 1))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(n.load(Ordering::SeqCst), 4);

        let n = AtomicU32::new(0);
        let r: Result<(), _> = retry(&b, "t", || async {
            n.fetch_add(1, Ordering::SeqCst);
            Err(api(403, 0))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(n.load(Ordering::SeqCst), 1);

        let n = AtomicU32::new(0);
        let r: Result<(), _> = retry(&b, "t", || async {
            n.fetch_add(1, Ordering::SeqCst);
            Err(api(500, 0))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(n.load(Ordering::SeqCst), b.max_attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_secs(60),
            max_attempts: 3,
            jitter: 0.0,
        };
        let n = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        retry(&b, "t", || async {
            if n.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(api(429, 5))
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
