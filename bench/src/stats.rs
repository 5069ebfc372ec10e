//! Summaries of samples: the median and the 90th and 99th percentiles.

use std::time::Duration;

use serde_json::{Value, json};

/// Median, 90th and 99th percentile of a set of durations, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Summary {
    pub(crate) median_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) samples: usize,
}

impl Summary {
    /// Summarizes `samples`, which must not be empty.
    pub(crate) fn of(samples: &[Duration]) -> Summary {
        assert!(!samples.is_empty(), "no samples to summarize");
        let mut millis: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        millis.sort_by(f64::total_cmp);
        Summary {
            median_ms: percentile(&millis, 50.0),
            p90_ms: percentile(&millis, 90.0),
            p99_ms: percentile(&millis, 99.0),
            samples: millis.len(),
        }
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "medianMs": self.median_ms,
            "p90Ms": self.p90_ms,
            "p99Ms": self.p99_ms,
            "samples": self.samples,
        })
    }
}

/// Returns the `p`th percentile of sorted values, interpolating linearly
/// between the two nearest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = rank.ceil() as usize;
    let weight = rank - lower as f64;
    sorted[lower] * (1.0 - weight) + sorted[upper] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_middle_value() {
        let samples: Vec<Duration> = [3, 1, 2].map(Duration::from_millis).to_vec();
        assert_eq!(Summary::of(&samples).median_ms, 2.0);
    }

    #[test]
    fn p90_interpolates_between_ranks() {
        let samples: Vec<Duration> = (1..=11).map(Duration::from_millis).collect();
        let summary = Summary::of(&samples);
        assert_eq!(summary.median_ms, 6.0);
        assert_eq!(summary.p90_ms, 10.0);
    }
}
