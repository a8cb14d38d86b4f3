//! Date-times as Keepnet sends them: ISO 8601 (with or without offset, any fraction) or
//! `dd/MM/yyyy HH:mm:ss`. No calendar crate is needed for that, so none is pulled in.

use std::fmt;

/// A UTC instant with millisecond precision, as calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Year, e.g. 2024.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of month, 1 to 31.
    pub day: u8,
    /// Hour, 0 to 23.
    pub hour: u8,
    /// Minute, 0 to 59.
    pub minute: u8,
    /// Second, 0 to 59.
    pub second: u8,
    /// Millisecond, 0 to 999.
    pub millisecond: u16,
}

impl Timestamp {
    /// Parses `2024-03-05T10:15:30.123Z`, `2024-03-05T10:15:30+03:00`, `2024-03-05 10:15:30`,
    /// `2024-03-05` and `05/03/2024 10:15:30` (day first, as Keepnet writes it). Offsets are
    /// converted to UTC; text without an offset is taken as UTC.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let b = t.as_bytes();
        let (date, rest) = if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
            ((num(&t[0..4])?, num(&t[5..7])?, num(&t[8..10])?), &t[10..])
        } else if b.len() >= 10 && b[2] == b'/' && b[5] == b'/' {
            ((num(&t[6..10])?, num(&t[3..5])?, num(&t[0..2])?), &t[10..])
        } else {
            return None;
        };
        let (year, month, day) = date;
        let (mut hour, mut minute, mut second, mut milli, mut offset_min) = (0, 0, 0, 0, 0);
        if !rest.is_empty() {
            let rest = rest.strip_prefix(['T', 't', ' '])?;
            let rb = rest.as_bytes();
            if rb.len() < 5 || rb[2] != b':' {
                return None;
            }
            hour = num(&rest[0..2])?;
            minute = num(&rest[3..5])?;
            let mut tail = &rest[5..];
            if let Some(s) = tail.strip_prefix(':') {
                second = num(s.get(0..2)?)?;
                tail = &s[2..];
            }
            if let Some(frac) = tail.strip_prefix(['.', ',']) {
                let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return None;
                }
                let ms_text = format!("{:0<3}", &frac[..digits.min(3)]);
                milli = num(&ms_text)?;
                tail = &frac[digits..];
            }
            match tail {
                "" | "Z" | "z" => {}
                _ => {
                    let sign = match tail.as_bytes()[0] {
                        b'+' => 1,
                        b'-' => -1,
                        _ => return None,
                    };
                    let o = &tail[1..];
                    let (h, m) = match o.len() {
                        5 if o.as_bytes()[2] == b':' => (num(&o[0..2])?, num(&o[3..5])?),
                        4 => (num(&o[0..2])?, num(&o[2..4])?),
                        2 => (num(o)?, 0),
                        _ => return None,
                    };
                    offset_min = sign * (h * 60 + m);
                }
            }
        }
        if !(1..=12).contains(&month)
            || !(1..=9999).contains(&year)
            || day == 0
            || day > i64::from(days_in_month(year as i32, month as u8))
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let local = days_from_civil(year as i32, month as u8, day as u8) * 86_400
            + hour * 3600
            + minute * 60
            + second.min(59);
        Some(Self::from_unix(local - offset_min * 60, milli as u16))
    }

    /// The instant `seconds` after 1970-01-01T00:00:00Z, plus `millisecond`.
    pub fn from_unix(seconds: i64, millisecond: u16) -> Self {
        let days = seconds.div_euclid(86_400);
        let secs = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: (secs / 3600) as u8,
            minute: (secs % 3600 / 60) as u8,
            second: (secs % 60) as u8,
            millisecond,
        }
    }

    /// The current time.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_unix(since.as_secs() as i64, since.subsec_millis() as u16)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + self.hour as i64 * 3600
            + self.minute as i64 * 60
            + self.second as i64
    }
}

impl fmt::Display for Timestamp {
    /// ISO 8601 in UTC: `2024-03-05T10:15:30.123Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millisecond
        )
    }
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8, ms: u16) -> Timestamp {
        Timestamp {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            millisecond: ms,
        }
    }

    #[test]
    fn parses_keepnet_forms() {
        assert_eq!(
            Timestamp::parse("2024-03-05T10:15:30.123Z"),
            Some(ts(2024, 3, 5, 10, 15, 30, 123))
        );
        assert_eq!(
            Timestamp::parse("2024-03-05T10:15:30"),
            Some(ts(2024, 3, 5, 10, 15, 30, 0))
        );
        assert_eq!(
            Timestamp::parse("2024-03-05T10:15:30.1234567"),
            Some(ts(2024, 3, 5, 10, 15, 30, 123))
        );
        assert_eq!(
            Timestamp::parse("2024-03-05 10:15"),
            Some(ts(2024, 3, 5, 10, 15, 0, 0))
        );
        assert_eq!(
            Timestamp::parse("2024-03-05"),
            Some(ts(2024, 3, 5, 0, 0, 0, 0))
        );
        assert_eq!(
            Timestamp::parse("05/03/2024 10:15:30"),
            Some(ts(2024, 3, 5, 10, 15, 30, 0))
        );
        // Offsets become UTC, across a day and a year boundary.
        assert_eq!(
            Timestamp::parse("2024-01-01T01:30:00+03:00"),
            Some(ts(2023, 12, 31, 22, 30, 0, 0))
        );
        assert_eq!(
            Timestamp::parse("2024-02-28T23:00:00-0200"),
            Some(ts(2024, 2, 29, 1, 0, 0, 0))
        );
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for bad in [
            "",
            "soon",
            "2024-13-01",
            "2023-02-29",
            "31/04/2024 00:00:00",
            "2024-03-05T25:00",
            "2024-03-05Tx",
            "2024-03-05T10:15:30+3",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_round_trip_and_display() {
        let t = Timestamp::parse("2024-03-05T10:15:30.007Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_709_633_730);
        assert_eq!(Timestamp::from_unix(t.unix_seconds(), 7), t);
        assert_eq!(t.to_string(), "2024-03-05T10:15:30.007Z");
        assert_eq!(
            Timestamp::from_unix(0, 0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
