//! Date-times as Keepnet sends them: ISO 8601 (with or without offset, any fraction), or text
//! in the company's own date and time format (`DD/MM/YYYY`, `MM/DD/YYYY` or `YYYY/MM/DD`, 24 h or
//! 12 h with AM/PM). No calendar crate is needed for that, so none is pulled in.
//!
//! `03/04/2024` is 3 April in one company and 4 March in another: slash dates are read by the
//! company's [`DateFormat`] when it is known, and otherwise only when the text allows a single
//! reading (`25/03/2024`, `2024/03/25`). Anything else stays text: a text cell is not data
//! corruption, a wrong date is.

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

/// The order of day, month and year in a company's date text (Keepnet's `dateFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// `DD/MM/YYYY`.
    DayMonthYear,
    /// `MM/DD/YYYY`.
    MonthDayYear,
    /// `YYYY/MM/DD`.
    YearMonthDay,
}

/// A company's clock (Keepnet's `timeFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clock {
    /// `18:25` (`24h`).
    H24,
    /// `06:25 PM` (`12h`).
    H12,
}

/// What is known of how a company writes dates; each part is `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DateFormat {
    /// Day, month and year order.
    pub order: Option<DateOrder>,
    /// 12 or 24 hours.
    pub clock: Option<Clock>,
}

impl DateFormat {
    /// Nothing known: only text with a single possible reading becomes a date.
    pub const UNKNOWN: DateFormat = DateFormat {
        order: None,
        clock: None,
    };

    /// From Keepnet's company settings (`GET /api/companies/{id}`): `dateFormat` one of
    /// `DD/MM/YYYY`, `MM/DD/YYYY`, `YYYY/MM/DD`, and `timeFormat` `24h` or `12h`. Values it does
    /// not know leave that part unknown.
    pub fn from_keepnet(date_format: Option<&str>, time_format: Option<&str>) -> Self {
        let squash = |s: &str| {
            s.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase()
        };
        let order = match date_format.map(squash).as_deref() {
            Some("DD/MM/YYYY") => Some(DateOrder::DayMonthYear),
            Some("MM/DD/YYYY") => Some(DateOrder::MonthDayYear),
            Some("YYYY/MM/DD") => Some(DateOrder::YearMonthDay),
            _ => None,
        };
        let clock = match time_format.map(squash).as_deref() {
            Some("24H" | "24") => Some(Clock::H24),
            Some("12H" | "12") => Some(Clock::H12),
            _ => None,
        };
        Self { order, clock }
    }
}

impl fmt::Display for DateFormat {
    /// `DD/MM/YYYY, 24 h`, with `?` for an unknown part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.order {
            Some(DateOrder::DayMonthYear) => "DD/MM/YYYY",
            Some(DateOrder::MonthDayYear) => "MM/DD/YYYY",
            Some(DateOrder::YearMonthDay) => "YYYY/MM/DD",
            None => "?",
        };
        let clock = match self.clock {
            Some(Clock::H24) => "24 h",
            Some(Clock::H12) => "12 h",
            None => "?",
        };
        write!(f, "{order}, {clock}")
    }
}

impl Timestamp {
    /// Parses ISO 8601 (`2024-03-05T10:15:30.123Z`, `2024-03-05T10:15:30+03:00`,
    /// `2024-03-05 10:15:30`, `2024-03-05`) and slash dates whose reading is certain without the
    /// company's format (`25/03/2024 10:15`, `2024/03/05 06:25 PM`); see [`Timestamp::parse_in`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::parse_in(text, &DateFormat::UNKNOWN)
    }

    /// Parses ISO 8601 (offsets converted to UTC; no offset taken as UTC), or a slash date
    /// (`DD/MM/YYYY`, `MM/DD/YYYY`, `YYYY/MM/DD`) with an optional time `HH:mm[:ss[.fff]]`
    /// and `AM`/`PM`, read by `format`:
    ///
    /// - `A/B/YYYY` follows the known order; without one it is read only when one of A and B
    ///   exceeds 12 or they are equal. Text the known order makes impossible stays text.
    /// - `YYYY/MM/DD` is unambiguous on its own.
    /// - `AM`/`PM` says 12 h; without it the time is 24 h, except that an hour up to 12 in a
    ///   company known to use the 12-hour clock is ambiguous.
    ///
    /// `None` means: keep the text.
    pub fn parse_in(text: &str, format: &DateFormat) -> Option<Self> {
        let t = text.trim();
        let b = t.as_bytes();
        if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
            return parse_iso(t);
        }
        if t.contains('/') {
            return parse_slash(t, format);
        }
        None
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

/// The time zone offset and clock fields of the part after an ISO date.
struct Clocked {
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
    offset_min: i64,
}

/// `2024-03-05`, then optionally `T`/space and `HH:mm[:ss[.fff]]` with `Z` or an offset.
fn parse_iso(t: &str) -> Option<Timestamp> {
    let field = |r: std::ops::Range<usize>| t.get(r).and_then(num);
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let rest = t.get(10..)?;
    let mut c = Clocked {
        hour: 0,
        minute: 0,
        second: 0,
        milli: 0,
        offset_min: 0,
    };
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        let tail = clock_fields(rest, &mut c)?;
        match tail {
            "" | "Z" | "z" => {}
            _ => {
                let sign = match tail.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let o = &tail[1..];
                let part = |r: std::ops::Range<usize>| o.get(r).and_then(num);
                let (h, m) = match o.len() {
                    5 if o.as_bytes()[2] == b':' => (part(0..2)?, part(3..5)?),
                    4 => (part(0..2)?, part(2..4)?),
                    2 => (num(o)?, 0),
                    _ => return None,
                };
                c.offset_min = sign * (h * 60 + m);
            }
        }
    }
    assemble(year, month, day, &c)
}

/// `HH:mm`, then optionally `:ss` and a fraction; returns what follows.
fn clock_fields<'t>(text: &'t str, c: &mut Clocked) -> Option<&'t str> {
    let b = text.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    c.hour = num(text.get(0..2)?)?;
    c.minute = num(text.get(3..5)?)?;
    let mut tail = text.get(5..)?;
    if let Some(s) = tail.strip_prefix(':') {
        c.second = num(s.get(0..2)?)?;
        tail = &s[2..];
    }
    if let Some(frac) = tail.strip_prefix(['.', ',']) {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let ms_text = format!("{:0<3}", &frac[..digits.min(3)]);
        c.milli = num(&ms_text)?;
        tail = &frac[digits..];
    }
    Some(tail)
}

/// `A/B/YYYY` or `YYYY/MM/DD`, then optionally a space and a time with `AM`/`PM`.
fn parse_slash(t: &str, format: &DateFormat) -> Option<Timestamp> {
    let (date, time) = match t.split_once([' ', 'T']) {
        Some((d, rest)) => (d, Some(rest.trim_start())),
        None => (t, None),
    };
    let parts: Vec<&str> = date.split('/').collect();
    let [p0, p1, p2] = parts[..] else {
        return None;
    };
    let short = |p: &str| (1..=2).contains(&p.len());
    let (year, month, day) = if p0.len() == 4 && short(p1) && short(p2) {
        // Only YYYY/MM/DD exists with the year first.
        (num(p0)?, num(p1)?, num(p2)?)
    } else if short(p0) && short(p1) && p2.len() == 4 {
        let (a, b, year) = (num(p0)?, num(p1)?, num(p2)?);
        let order = match format.order {
            Some(DateOrder::YearMonthDay) | None => {
                // The text's own shape decides, or nothing does.
                if a == b || (a > 12 && b <= 12) {
                    DateOrder::DayMonthYear
                } else if b > 12 && a <= 12 {
                    DateOrder::MonthDayYear
                } else {
                    return None;
                }
            }
            Some(order) => order,
        };
        match order {
            DateOrder::MonthDayYear => (year, a, b),
            _ => (year, b, a),
        }
    } else {
        return None;
    };
    let mut c = Clocked {
        hour: 0,
        minute: 0,
        second: 0,
        milli: 0,
        offset_min: 0,
    };
    if let Some(time) = time {
        // One digit hours (`6:25 PM`) are written too.
        let padded;
        let time = if time.as_bytes().get(1) == Some(&b':') {
            padded = format!("0{time}");
            padded.as_str()
        } else {
            time
        };
        let tail = clock_fields(time, &mut c)?.trim_start();
        let marker = tail.to_ascii_uppercase();
        match marker.as_str() {
            "" => {
                if format.clock == Some(Clock::H12) && c.hour <= 12 {
                    return None;
                }
            }
            "AM" | "PM" => {
                if !(1..=12).contains(&c.hour) {
                    return None;
                }
                c.hour %= 12;
                if marker == "PM" {
                    c.hour += 12;
                }
            }
            _ => return None,
        }
    }
    assemble(year, month, day, &c)
}

/// Checks the fields and builds the UTC instant.
fn assemble(year: i64, month: i64, day: i64, c: &Clocked) -> Option<Timestamp> {
    if !(1..=12).contains(&month)
        || !(1..=9999).contains(&year)
        || day == 0
        || day > i64::from(days_in_month(year as i32, month as u8))
        || c.hour > 23
        || c.minute > 59
        || c.second > 60
    {
        return None;
    }
    let local = days_from_civil(year as i32, month as u8, day as u8) * 86_400
        + c.hour * 3600
        + c.minute * 60
        + c.second.min(59);
    Some(Timestamp::from_unix(
        local - c.offset_min * 60,
        c.milli as u16,
    ))
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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). The one
/// calendar in the workspace: the sandbox uses it too.
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
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
        // Without the company's format only a single possible reading is taken.
        assert_eq!(Timestamp::parse("05/03/2024 10:15:30"), None);
        assert_eq!(
            Timestamp::parse("25/03/2024 10:15:30"),
            Some(ts(2024, 3, 25, 10, 15, 30, 0))
        );
        assert_eq!(
            Timestamp::parse("03/25/2024 06:25 PM"),
            Some(ts(2024, 3, 25, 18, 25, 0, 0))
        );
        assert_eq!(
            Timestamp::parse("2021/07/04 20:24"),
            Some(ts(2021, 7, 4, 20, 24, 0, 0))
        );
        assert_eq!(
            Timestamp::parse("04/04/2024"),
            Some(ts(2024, 4, 4, 0, 0, 0, 0))
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
    fn company_formats_decide_the_order_and_the_clock() {
        let dmy = DateFormat::from_keepnet(Some("DD/MM/YYYY"), Some("24h"));
        let mdy12 = DateFormat::from_keepnet(Some("MM/DD/YYYY"), Some("12h"));
        let ymd = DateFormat::from_keepnet(Some("YYYY/MM/DD"), Some("24h"));
        assert_eq!(dmy.order, Some(DateOrder::DayMonthYear));
        assert_eq!(mdy12.clock, Some(Clock::H12));
        // (text, company format, the instant, or None: stays text)
        let cases = [
            ("03/04/2024 18:25", dmy, Some(ts(2024, 4, 3, 18, 25, 0, 0))),
            (
                "03/04/2024 06:25 PM",
                mdy12,
                Some(ts(2024, 3, 4, 18, 25, 0, 0)),
            ),
            (
                "03/04/2024 12:05 am",
                mdy12,
                Some(ts(2024, 3, 4, 0, 5, 0, 0)),
            ),
            (
                "03/04/2024 12:05 PM",
                mdy12,
                Some(ts(2024, 3, 4, 12, 5, 0, 0)),
            ),
            (
                "3/4/2024 6:25 PM",
                mdy12,
                Some(ts(2024, 3, 4, 18, 25, 0, 0)),
            ),
            (
                "2024/03/04 18:25:30",
                ymd,
                Some(ts(2024, 3, 4, 18, 25, 30, 0)),
            ),
            // A YYYY/MM/DD company's ambiguous A/B/YYYY text is not guessed.
            ("03/04/2024", ymd, None),
            // Impossible under the company's order: text, never the other reading.
            ("12/25/2024 10:00", dmy, None),
            // A 12-hour company's time without AM/PM is ambiguous up to 12 o'clock.
            ("03/04/2024 06:25", mdy12, None),
            (
                "03/04/2024 18:25",
                mdy12,
                Some(ts(2024, 3, 4, 18, 25, 0, 0)),
            ),
            // ISO is self-describing whatever the company writes.
            (
                "2024-03-04T18:25:00Z",
                mdy12,
                Some(ts(2024, 3, 4, 18, 25, 0, 0)),
            ),
            ("03/04/2024 13:00 PM", mdy12, None),
            ("03/04/2024 00:10 AM", mdy12, None),
            ("03/04/2024 10:00 XM", mdy12, None),
            ("03/04/2024 10:00PM!", mdy12, None),
        ];
        for (text, format, want) in cases {
            assert_eq!(
                Timestamp::parse_in(text, &format),
                want,
                "{text} as {format}"
            );
        }
        assert_eq!(
            DateFormat::from_keepnet(Some("dd.MM.yyyy"), None),
            DateFormat::UNKNOWN
        );
        assert_eq!(dmy.to_string(), "DD/MM/YYYY, 24 h");
        assert_eq!(DateFormat::UNKNOWN.to_string(), "?, ?");
    }

    #[test]
    fn arbitrary_text_never_panics() {
        let pieces = [
            "2024", "-", "/", ":", " ", "T", "é", "漢", "12", "1", "PM", "+03:00", ".", "99", "Z",
        ];
        let formats = [
            DateFormat::UNKNOWN,
            DateFormat::from_keepnet(Some("MM/DD/YYYY"), Some("12h")),
        ];
        // Every sequence of up to four pieces.
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &texts {
                for p in pieces {
                    next.push(format!("{t}{p}"));
                }
            }
            texts.extend(next);
        }
        for t in &texts {
            for f in &formats {
                let _ = Timestamp::parse_in(t, f);
            }
        }
        assert!(Timestamp::parse_in("2024-0é-01", &DateFormat::UNKNOWN).is_none());
        assert!(Timestamp::parse_in("2024-01-0漢", &DateFormat::UNKNOWN).is_none());
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
