//! Local wall-clock time, for what the user sets in local terms: quiet hours and the
//! calendar month of the credit budget. Read from the system (`localtime_r`, so `TZ` and
//! daylight saving apply); nothing is cached, so a change of time zone or a clock set
//! right is seen at the next look.
//!
//! Tests move the clock without waiting for a real night: in builds with debug assertions
//! (the test builds) the environment variable [`TEST_NOW`] gives the Unix time the process
//! starts at, and time flows from there. Release builds never read it: in production the
//! real clock is the only clock.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch the process's clock starts at (debug builds only).
pub const TEST_NOW: &str = "SHORTPIXEL_AGENT_TEST_NOW";

/// A moment in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub unix: i64,
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
    pub day: u32,
    /// Minutes after local midnight.
    pub minute: u32,
}

impl Local {
    /// The budget's month, `"2026-11"`.
    pub fn month_key(&self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// The first day of the next month, in words ("1 December 2026").
    pub fn next_month_words(&self) -> String {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        format!("1 {} {year}", MONTHS[(month - 1) as usize])
    }

    /// Seconds until the next local midnight (an estimate across a daylight-saving change).
    pub fn secs_to_midnight(&self) -> u64 {
        u64::from(24 * 60 - self.minute) * 60 - (self.unix.rem_euclid(60) as u64)
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Now, in local time.
pub fn now() -> Local {
    at(unix_now())
}

/// Seconds since the epoch, now (moved by [`TEST_NOW`] in debug builds).
pub fn unix_now() -> i64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    real + offset()
}

fn offset() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        if !cfg!(debug_assertions) {
            return 0;
        }
        let Some(fake) = std::env::var(TEST_NOW)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
        else {
            return 0;
        };
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        fake - real
    })
}

/// `unix` in local time.
pub fn at(unix: i64) -> Local {
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame; a zeroed
    // `tm` is a valid value of the plain C struct.
    let tm = unsafe {
        let t: libc::time_t = unix as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            // Cannot happen for times this agent meets; UTC midnight of the epoch day then.
            return Local {
                unix,
                year: 1970,
                month: 1,
                day: 1,
                minute: 0,
            };
        }
        tm
    };
    Local {
        unix,
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        minute: (tm.tm_hour * 60 + tm.tm_min) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_the_year() {
        let dec = Local {
            unix: 0,
            year: 2026,
            month: 12,
            day: 31,
            minute: 23 * 60 + 59,
        };
        assert_eq!(dec.month_key(), "2026-12");
        assert_eq!(dec.next_month_words(), "1 January 2027");
        assert_eq!(dec.secs_to_midnight(), 60);
        let nov = Local { month: 11, ..dec };
        assert_eq!(nov.next_month_words(), "1 December 2026");
    }

    #[test]
    fn local_time_has_sane_fields() {
        let l = now();
        assert!((1..=12).contains(&l.month) && (1..=31).contains(&l.day));
        assert!(l.minute < 24 * 60 && l.year >= 2024);
    }
}
