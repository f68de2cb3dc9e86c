//! `[limits]`: what the agent may spend and when. A monthly credit budget, quiet hours (a
//! daily window, in local time, without uploads) and an upload bandwidth limit. Every value
//! is checked here (exit 2 naming the key); what they do at run time is in `crate::limits`.

use serde::Deserialize;

use super::ConfigError;

/// The most `upload_kbps` accepts: 10 GiB/s, far past any uplink.
const MAX_KBPS: i64 = 10 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    monthly_credits: Option<i64>,
    quiet_hours: Option<String>,
    quiet_hours_local: Option<bool>,
    upload_kbps: Option<i64>,
}

/// The limits in force; the default is none at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Credits this agent may spend per calendar month (local time).
    pub monthly_credits: Option<u64>,
    /// The daily window without uploads.
    pub quiet_hours: Option<QuietHours>,
    /// Whether the built-in optimizer keeps working during quiet hours (default true).
    pub quiet_hours_local: bool,
    /// Upload bandwidth, in KiB (1024 bytes) a second, shared by every upload at once.
    pub upload_kbps: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            monthly_credits: None,
            quiet_hours: None,
            quiet_hours_local: true,
            upload_kbps: None,
        }
    }
}

impl Limits {
    /// The upload limit in bytes a second.
    pub fn upload_bytes_per_sec(&self) -> Option<u64> {
        self.upload_kbps.map(|k| k * 1024)
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.monthly_credits.is_some() || self.quiet_hours.is_some() || self.upload_kbps.is_some()
    }
}

/// A daily window `start`–`end` in minutes after local midnight; it wraps midnight when
/// `end` < `start` ("22:00-06:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u32,
    pub end: u32,
}

impl QuietHours {
    /// Whether `minute` (after local midnight) is inside the window.
    pub fn contains(&self, minute: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Minutes from `minute` until the window ends (0 when outside it).
    pub fn minutes_left(&self, minute: u32) -> u32 {
        if self.contains(minute) {
            (self.end + 24 * 60 - minute) % (24 * 60)
        } else {
            0
        }
    }

    /// Parses `"HH:MM-HH:MM"`.
    pub fn parse(text: &str) -> Result<QuietHours, String> {
        let bad = || {
            format!("{text:?} is not a daily window; write it as \"HH:MM-HH:MM\" in local time, e.g. \"01:00-07:00\" or \"22:30-06:00\"")
        };
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let (start, end) = (hhmm(a).ok_or_else(bad)?, hhmm(b).ok_or_else(bad)?);
        if start == end {
            return Err(format!(
                "{text:?} starts and ends at the same minute; give a window of at least one minute, or remove quiet_hours"
            ));
        }
        Ok(QuietHours { start, end })
    }
}

impl std::fmt::Display for QuietHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", clock_text(self.start), clock_text(self.end))
    }
}

/// A minute after midnight as `"HH:MM"`.
pub fn clock_text(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// `HH:MM` (00:00 to 23:59, or 24:00 for the end of the day) in minutes.
fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let all_digits =
        |p: &str| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(h) || m.len() != 2 || !all_digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(0),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Validates `[limits]`.
pub(super) fn validate(
    raw: Option<RawLimits>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Limits, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Limits::default());
    };
    let positive = |key: &str, v: Option<i64>, max: i64, unit: &str| {
        match v {
        None => Ok(None),
        Some(n) if (1..=max).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(err(
            key,
            format!("{n} is out of range: give a whole number of {unit} from 1 to {max}, or remove the key for no limit"),
        )),
    }
    };
    let monthly_credits = positive(
        "limits.monthly_credits",
        raw.monthly_credits,
        i64::from(u32::MAX),
        "credits",
    )?;
    let upload_kbps = positive(
        "limits.upload_kbps",
        raw.upload_kbps,
        MAX_KBPS,
        "KiB a second",
    )?;
    let quiet_hours = raw
        .quiet_hours
        .map(|t| QuietHours::parse(&t))
        .transpose()
        .map_err(|m| err("limits.quiet_hours", m))?;
    Ok(Limits {
        monthly_credits,
        quiet_hours,
        quiet_hours_local: raw.quiet_hours_local.unwrap_or(true),
        upload_kbps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_parse_and_wrap_midnight() {
        let q = QuietHours::parse("22:30-06:00").unwrap();
        assert_eq!((q.start, q.end), (22 * 60 + 30, 6 * 60));
        assert!(q.contains(23 * 60) && q.contains(0) && q.contains(5 * 60 + 59));
        assert!(!q.contains(6 * 60) && !q.contains(12 * 60) && !q.contains(22 * 60 + 29));
        assert_eq!(q.minutes_left(23 * 60), 7 * 60);
        assert_eq!(q.minutes_left(12 * 60), 0);
        assert_eq!(q.to_string(), "22:30-06:00");
        let day = QuietHours::parse(" 01:00 - 07:00 ").unwrap();
        assert!(day.contains(60) && !day.contains(7 * 60) && !day.contains(0));
        assert_eq!(QuietHours::parse("8:00-24:00").unwrap().end, 0);
        for bad in [
            "",
            "01:00",
            "1-7",
            "25:00-07:00",
            "01:60-02:00",
            "01:00-01:00",
            "a:bc-01:00",
        ] {
            assert!(QuietHours::parse(bad).is_err(), "{bad:?}");
        }
    }
}
