//! The app's own performance counters, for `ezflow status --stats`: how many
//! dictations today, and the median latency and real-time factor of the most
//! recent ones. It owns the bookkeeping only; the app measures each
//! dictation and records it here, and the memory figures come from
//! [`crate::memory`] when a report is asked for.
//!
//! It also keeps a bounded history for the settings window's graphs: the
//! last [`HISTORY_DICTATIONS`] dictations with the time each ended, and
//! [`MemoryHistory`], the last [`HISTORY_MEMORY`] memory samples, which the
//! app takes when something happens (start, a load or unload, a
//! dictation's end, a request for the history).
//!
//! Nothing here runs on its own: the day rolls over when a dictation is
//! recorded or a report is made, and memory is sampled by the app on
//! events, never by a timer.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// What one dictation cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DictationSample {
    /// Length of the recorded audio.
    pub audio: Duration,
    /// Time from the end of recording to the text being in the window.
    pub latency: Duration,
    /// Time the transcription itself took (model load excluded when the
    /// model was already in memory).
    pub transcription: Duration,
}

impl DictationSample {
    /// Transcription time over audio length; `None` for empty audio.
    pub fn real_time_factor(&self) -> Option<f64> {
        let audio = self.audio.as_secs_f64();
        (audio > 0.0).then(|| self.transcription.as_secs_f64() / audio)
    }
}

/// How many dictations the history keeps.
pub const HISTORY_DICTATIONS: usize = 200;
/// How many memory samples the history keeps.
pub const HISTORY_MEMORY: usize = 288;

/// A dictation in the history: when it ended (Unix seconds) and its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedSample {
    pub at: u64,
    pub sample: DictationSample,
}

/// The counters over the app's lifetime.
#[derive(Debug, Clone)]
pub struct DictationStats {
    capacity: usize,
    recent: VecDeque<DictationSample>,
    history: VecDeque<TimedSample>,
    /// The local day (days since 1970-01-01 in local time) `today` counts.
    day: i64,
    today: u32,
}

/// What [`DictationStats::summary`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DictationSummary {
    pub dictations_today: u32,
    pub recent: usize,
    pub median_latency: Option<Duration>,
    pub median_real_time_factor: Option<f64>,
}

impl DictationStats {
    /// Keeps the last `capacity` dictations for the medians.
    pub fn new(capacity: usize) -> Self {
        DictationStats {
            capacity: capacity.max(1),
            recent: VecDeque::new(),
            history: VecDeque::new(),
            day: i64::MIN,
            today: 0,
        }
    }

    /// Records a dictation that ended at `now`.
    pub fn record(&mut self, sample: DictationSample, now: SystemTime) {
        self.record_on(sample, local_day(now));
        if self.history.len() == HISTORY_DICTATIONS {
            self.history.pop_front();
        }
        self.history.push_back(TimedSample {
            at: unix_secs(now),
            sample,
        });
    }

    /// The last [`HISTORY_DICTATIONS`] dictations, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &TimedSample> {
        self.history.iter()
    }

    /// [`record`](Self::record) with the local day given (for tests).
    pub fn record_on(&mut self, sample: DictationSample, day: i64) {
        if day != self.day {
            self.day = day;
            self.today = 0;
        }
        self.today = self.today.saturating_add(1);
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(sample);
    }

    /// The counters as of `now`.
    pub fn summary(&self, now: SystemTime) -> DictationSummary {
        self.summary_on(local_day(now))
    }

    /// [`summary`](Self::summary) with the local day given (for tests).
    pub fn summary_on(&self, day: i64) -> DictationSummary {
        let mut latencies: Vec<Duration> = self.recent.iter().map(|s| s.latency).collect();
        let mut factors: Vec<f64> = self
            .recent
            .iter()
            .filter_map(DictationSample::real_time_factor)
            .collect();
        DictationSummary {
            dictations_today: if day == self.day { self.today } else { 0 },
            recent: self.recent.len(),
            median_latency: median_by(&mut latencies, |a, b| a.cmp(b)),
            median_real_time_factor: median_by(&mut factors, |a, b| a.total_cmp(b)),
        }
    }
}

/// One memory sample: when, the process's proportional set size (`None`
/// where the platform does not report it), and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySample {
    pub at: u64,
    pub pss_bytes: Option<u64>,
    pub why: &'static str,
}

/// The last [`HISTORY_MEMORY`] memory samples.
#[derive(Debug, Clone, Default)]
pub struct MemoryHistory {
    samples: VecDeque<MemorySample>,
}

impl MemoryHistory {
    /// Keeps `sample`, dropping the oldest beyond [`HISTORY_MEMORY`].
    pub fn record(&mut self, sample: MemorySample) {
        if self.samples.len() == HISTORY_MEMORY {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &MemorySample> {
        self.samples.iter()
    }
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The median (the upper one for an even count, which is a value that was
/// actually measured); `None` when empty.
fn median_by<T: Copy>(
    values: &mut [T],
    cmp: impl FnMut(&T, &T) -> std::cmp::Ordering,
) -> Option<T> {
    values.sort_by(cmp);
    values.get(values.len() / 2).copied()
}

/// The local calendar day of `time`, as days since 1970-01-01: dictations
/// "today" are counted from the user's midnight, not UTC's.
pub fn local_day(time: SystemTime) -> i64 {
    let secs = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    // The offset of local time from UTC at that moment (daylight saving
    // included), from the C library's time zone data.
    let offset = utc_offset_secs(secs).unwrap_or(0);
    (secs + offset).div_euclid(86_400)
}

#[cfg(unix)]
// time_t and tm_gmtoff are i64 here but narrower on some platforms.
#[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
fn utc_offset_secs(secs: i64) -> Option<i64> {
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack
    // frame; a null return means it failed and `tm` is not read.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::localtime_r(&t, &mut tm) };
    (!done.is_null()).then_some(tm.tm_gmtoff as i64)
}

#[cfg(not(unix))]
fn utc_offset_secs(_secs: i64) -> Option<i64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(audio_ms: u64, latency_ms: u64, transcription_ms: u64) -> DictationSample {
        DictationSample {
            audio: Duration::from_millis(audio_ms),
            latency: Duration::from_millis(latency_ms),
            transcription: Duration::from_millis(transcription_ms),
        }
    }

    #[test]
    fn empty_stats_have_no_medians() {
        let stats = DictationStats::new(5);
        assert_eq!(stats.summary_on(10), DictationSummary::default());
    }

    #[test]
    fn medians_over_the_most_recent() {
        let mut stats = DictationStats::new(3);
        stats.record_on(sample(1000, 9000, 900), 10); // pushed out below
        stats.record_on(sample(2000, 300, 200), 10);
        stats.record_on(sample(4000, 500, 1000), 10);
        stats.record_on(sample(1000, 400, 500), 10);
        let s = stats.summary_on(10);
        assert_eq!(s.dictations_today, 4);
        assert_eq!(s.recent, 3);
        assert_eq!(s.median_latency, Some(Duration::from_millis(400)));
        // Factors 0.1, 0.25, 0.5.
        assert_eq!(s.median_real_time_factor, Some(0.25));
    }

    #[test]
    fn today_starts_again_at_midnight() {
        let mut stats = DictationStats::new(10);
        stats.record_on(sample(1000, 100, 100), 10);
        stats.record_on(sample(1000, 100, 100), 10);
        assert_eq!(stats.summary_on(10).dictations_today, 2);
        // The next day, before any dictation: none today, medians kept.
        let next = stats.summary_on(11);
        assert_eq!(next.dictations_today, 0);
        assert_eq!(next.recent, 2);
        stats.record_on(sample(1000, 100, 100), 11);
        assert_eq!(stats.summary_on(11).dictations_today, 1);
    }

    #[test]
    fn empty_audio_has_no_factor() {
        let mut stats = DictationStats::new(4);
        stats.record_on(sample(0, 50, 0), 1);
        let s = stats.summary_on(1);
        assert_eq!(s.median_real_time_factor, None);
        assert_eq!(s.median_latency, Some(Duration::from_millis(50)));
    }

    #[test]
    fn local_day_is_a_day_near_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 43_200);
        // Noon UTC is the same calendar day in every zone within ±12 h.
        assert_eq!(local_day(t), 20_000);
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn the_history_is_bounded_and_keeps_the_newest() {
        let mut stats = DictationStats::new(50);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_830_000);
        for i in 0..(HISTORY_DICTATIONS as u64 + 5) {
            let sample = DictationSample {
                audio: Duration::from_secs(2),
                latency: Duration::from_millis(i),
                transcription: Duration::from_millis(200),
            };
            stats.record(sample, start + Duration::from_secs(i));
        }
        let history: Vec<_> = stats.history().collect();
        assert_eq!(history.len(), HISTORY_DICTATIONS);
        assert_eq!(history[0].at, 1_795_830_005);
        assert_eq!(history[0].sample.latency, Duration::from_millis(5));
        assert_eq!(
            stats.summary(start).recent,
            50,
            "the medians keep their own window"
        );

        let mut memory = MemoryHistory::default();
        for i in 0..(HISTORY_MEMORY as u64 + 1) {
            memory.record(MemorySample {
                at: i,
                pss_bytes: Some(i),
                why: "dictation",
            });
        }
        assert_eq!(memory.samples().count(), HISTORY_MEMORY);
        assert_eq!(memory.samples().next().map(|s| s.at), Some(1));
    }
}
