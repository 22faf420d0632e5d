//! The runner's HTTP middleware under the kube client: a client-side rate limit (token bucket,
//! QPS + burst; kube-rs has none by default), a global pause when the server answers 429 with a
//! `Retry-After`, and per-verb request counts and latency.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::metrics::RunnerMetrics;

/// A token bucket: `qps` tokens per second, at most `burst` saved up.
#[derive(Debug)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// A limiter; `qps <= 0` means unlimited. `burst` is at least 1.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            qps,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Takes a token now, or says how long to wait before trying again.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut s) = self.state.lock() else {
            return Ok(());
        };
        if let Some(until) = s.paused_until {
            if until > now {
                return Err(until - now);
            }
            s.paused_until = None;
        }
        if self.qps <= 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.qps).min(self.burst);
        s.last = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - s.tokens) / self.qps))
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        while let Err(d) = self.try_acquire() {
            tokio::time::sleep(d).await;
        }
    }

    /// Stops handing out tokens for `d` (the server asked us to back off).
    pub fn pause_for(&self, d: Duration) {
        if let Ok(mut s) = self.state.lock() {
            let until = Instant::now() + d;
            if s.paused_until.is_none_or(|u| u < until) {
                s.paused_until = Some(until);
            }
        }
    }
}

/// Longest server-requested pause we honour (a bad header must not stall the runner).
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Tower layer adding the rate limit and the metrics.
#[derive(Debug, Clone)]
pub struct ApiLayer {
    limiter: Arc<RateLimiter>,
    metrics: Arc<RunnerMetrics>,
}

impl ApiLayer {
    /// A layer sharing `limiter` and recording into `metrics`.
    pub fn new(limiter: Arc<RateLimiter>, metrics: Arc<RunnerMetrics>) -> Self {
        ApiLayer { limiter, metrics }
    }
}

impl<S> Layer<S> for ApiLayer {
    type Service = ApiService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ApiService {
            inner,
            limiter: self.limiter.clone(),
            metrics: self.metrics.clone(),
            sleep: None,
            token: false,
        }
    }
}

/// The service made by [`ApiLayer`].
pub struct ApiService<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
    metrics: Arc<RunnerMetrics>,
    sleep: Option<Pin<Box<Sleep>>>,
    token: bool,
}

impl<S> std::fmt::Debug for ApiService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiService").finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<http::Request<B>> for ApiService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while !self.token {
            if let Some(s) = self.sleep.as_mut() {
                if s.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.limiter.try_acquire() {
                Ok(()) => self.token = true,
                Err(d) => self.sleep = Some(Box::pin(tokio::time::sleep(d))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.token = false;
        let verb = req
            .extensions()
            .get::<&'static str>()
            .copied()
            .unwrap_or_else(|| method_verb(req.method()));
        let watch = verb == "watch";
        let fut = self.inner.call(req);
        let metrics = self.metrics.clone();
        let limiter = self.limiter.clone();
        let start = Instant::now();
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => {
                    if r.status() == http::StatusCode::TOO_MANY_REQUESTS {
                        let after = r
                            .headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(1);
                        limiter.pause_for(Duration::from_secs(after).min(MAX_PAUSE));
                    }
                    r.status().as_u16().to_string()
                }
                Err(_) => "error".to_string(),
            };
            let _ = watch;
            metrics.observe_api(verb, &code, start.elapsed());
            res
        })
    }
}

fn method_verb(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::DELETE => "delete",
        http::Method::PUT => "replace",
        http::Method::PATCH => "patch",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_bucket_limits_rate_after_burst() {
        let l = RateLimiter::new(10.0, 5);
        let start = Instant::now();
        for _ in 0..25 {
            l.acquire().await;
        }
        // 5 free, then 20 at 10/s = 2 s
        let e = start.elapsed();
        assert!(
            e >= Duration::from_millis(1900) && e <= Duration::from_millis(2200),
            "{e:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pause_blocks_everyone_and_unlimited_is_free() {
        let l = RateLimiter::new(0.0, 1);
        let start = Instant::now();
        for _ in 0..1000 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        l.pause_for(Duration::from_secs(3));
        l.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }
}
