//! Per-client rate limiting for `/v1/events`, without keeping addresses.
//!
//! Each client has a token bucket: it holds up to `burst` batches and
//! refills at `per_minute` batches a minute; a batch takes one token, and a
//! client with no token is answered 429 with the seconds until its next
//! token. A client is its IPv4 address, or the /64 prefix of its IPv6
//! address (one host usually owns a whole /64).
//!
//! Buckets are keyed by a SipHash of that address under a random key drawn
//! when the collector starts and kept only in memory, so the table cannot
//! be turned back into addresses, and nothing about clients is ever written
//! to disk or to the log. A bucket that has refilled to full carries no
//! information (a new client starts full), so full buckets are dropped when
//! the table grows; if it still holds [`MAX_TRACKED_CLIENTS`] busy clients,
//! new clients are refused until some refill.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most clients tracked at once.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;
/// The table is swept of full buckets when it reaches this size (or twice
/// its size after the last sweep).
const FIRST_SWEEP: usize = 1024;

/// Whether a batch may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; a token will be there in this many seconds (at least 1).
    Limited {
        retry_after_secs: u64,
    },
}

/// Token buckets for all clients; `Sync`, shared by all requests.
pub struct RateLimiter {
    /// `None` when rate limiting is off.
    buckets: Option<Mutex<Buckets>>,
}

struct Buckets {
    key: RandomState,
    capacity: f64,
    per_second: f64,
    clients: HashMap<u64, Bucket>,
    sweep_at: usize,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_minute` batches a minute with bursts of `burst`; `per_minute`
    /// 0 allows everything.
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        let buckets = (per_minute > 0).then(|| {
            Mutex::new(Buckets {
                key: RandomState::new(),
                capacity: f64::from(burst.max(1)),
                per_second: f64::from(per_minute) / 60.0,
                clients: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            })
        });
        RateLimiter { buckets }
    }

    /// Takes a token for the client at `ip`, if it has one.
    pub fn check(&self, ip: IpAddr) -> Decision {
        self.check_at(ip, Instant::now())
    }

    /// [`check`](Self::check) with the clock passed in.
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Decision {
        let Some(buckets) = &self.buckets else {
            return Decision::Allow;
        };
        // A poisoned lock only means another request panicked mid-update;
        // the buckets are still plain numbers.
        let mut buckets = buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.take(client_of(ip), now)
    }

    /// How many clients have a bucket that is not full (or not yet swept).
    pub fn tracked_clients(&self) -> usize {
        self.buckets.as_ref().map_or(0, |b| {
            b.lock().unwrap_or_else(|p| p.into_inner()).clients.len()
        })
    }
}

/// The part of an address that names a client: all 32 bits of IPv4 (also
/// when written as IPv4-mapped IPv6), the first 64 bits of IPv6.
fn client_of(ip: IpAddr) -> (u8, u128) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => (4, u128::from(v4.to_bits())),
        IpAddr::V6(v6) => (6, v6.to_bits() >> 64),
    }
}

impl Buckets {
    fn take(&mut self, client: (u8, u128), now: Instant) -> Decision {
        let id = self.key.hash_one(client);
        if !self.clients.contains_key(&id) {
            if self.clients.len() >= self.sweep_at {
                self.sweep(now);
            }
            if self.clients.len() >= MAX_TRACKED_CLIENTS {
                return Decision::Limited {
                    retry_after_secs: self.secs_until(1.0),
                };
            }
        }
        let (capacity, per_second) = (self.capacity, self.per_second);
        let bucket = self.clients.entry(id).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allow
        } else {
            let missing = 1.0 - bucket.tokens;
            Decision::Limited {
                retry_after_secs: self.secs_until(missing),
            }
        }
    }

    /// Whole seconds until `tokens` more have refilled, at least 1.
    fn secs_until(&self, tokens: f64) -> u64 {
        ((tokens / self.per_second).ceil() as u64).max(1)
    }

    /// Drops every bucket that would be full by `now`.
    fn sweep(&mut self, now: Instant) {
        let (capacity, per_second) = (self.capacity, self.per_second);
        self.clients.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
            b.tokens + elapsed * per_second < capacity
        });
        self.sweep_at = (self.clients.len() * 2).max(FIRST_SWEEP);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_burst_then_one_token_per_interval() {
        let limiter = RateLimiter::new(6, 3); // one token every 10 s
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(A, t0), Decision::Allow);
        }
        assert_eq!(
            limiter.check_at(A, t0),
            Decision::Limited {
                retry_after_secs: 10
            }
        );
        assert_eq!(limiter.check_at(B, t0), Decision::Allow, "B has its own");
        let later = t0 + Duration::from_secs(4);
        assert_eq!(
            limiter.check_at(A, later),
            Decision::Limited {
                retry_after_secs: 6
            }
        );
        assert_eq!(
            limiter.check_at(A, t0 + Duration::from_secs(10)),
            Decision::Allow
        );
    }

    #[test]
    fn ipv6_clients_are_their_64_prefix_and_mapped_ipv4_is_ipv4() {
        let limiter = RateLimiter::new(60, 1);
        let t0 = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limiter.check_at(one, t0), Decision::Allow);
        assert!(matches!(
            limiter.check_at(same_64, t0),
            Decision::Limited { .. }
        ));
        assert_eq!(limiter.check_at(other_64, t0), Decision::Allow);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(limiter.check_at(A, t0), Decision::Allow);
        assert!(matches!(
            limiter.check_at(mapped, t0),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn full_buckets_are_swept_and_the_table_is_bounded() {
        let limiter = RateLimiter::new(60, 2);
        let t0 = Instant::now();
        let ip = |i: u32| IpAddr::V6(Ipv6Addr::from_bits(u128::from(i) << 64));
        for i in 0..FIRST_SWEEP as u32 {
            assert_eq!(limiter.check_at(ip(i), t0), Decision::Allow);
        }
        assert_eq!(limiter.tracked_clients(), FIRST_SWEEP);
        // Two seconds later every bucket has refilled: the next new client
        // triggers a sweep that drops them all.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(limiter.check_at(ip(u32::MAX), t1), Decision::Allow);
        assert_eq!(limiter.tracked_clients(), 1);

        let limiter = RateLimiter::new(1, 1);
        for i in 0..MAX_TRACKED_CLIENTS as u32 {
            assert_eq!(limiter.check_at(ip(i), t0), Decision::Allow);
        }
        assert!(matches!(
            limiter.check_at(ip(u32::MAX), t0),
            Decision::Limited { .. }
        ));
        assert_eq!(limiter.tracked_clients(), MAX_TRACKED_CLIENTS);
    }

    #[test]
    fn zero_per_minute_is_off() {
        let limiter = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            assert_eq!(limiter.check(A), Decision::Allow);
        }
    }
}
