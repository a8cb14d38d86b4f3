//! Minimal UTC calendar arithmetic and formatting (no external date crate).

/// Days since 1970-01-01 for a proleptic Gregorian date (the workspace's one calendar, in
/// `keepnet_sink`; the sandbox's years fit its `i32`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    keepnet_sink::days_from_civil(year as i32, month as u8, day as u8)
}

/// Calendar date (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let (year, month, day) = keepnet_sink::civil_from_days(days);
    (i64::from(year), u32::from(month), u32::from(day))
}

/// Broken-down UTC time of a millisecond timestamp.
pub(crate) struct Parts {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

/// Split a unix millisecond timestamp into calendar parts.
pub(crate) fn parts(ms: i64) -> Parts {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: (rem / 3_600_000) as u32,
        minute: (rem / 60_000 % 60) as u32,
        second: (rem / 1000 % 60) as u32,
        milli: (rem % 1000) as u32,
    }
}

/// Unix milliseconds of a UTC date-time.
pub(crate) fn ms_from(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400_000
        + i64::from(h) * 3_600_000
        + i64::from(m) * 60_000
        + i64::from(s) * 1000
}

/// "2024-03-05T10:15:30.123Z"
pub(crate) fn iso_ms(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.milli
    )
}

/// "2024-03-05T10:15:30Z"
pub(crate) fn iso_s(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// "20240305"
pub(crate) fn ymd_compact(ms: i64) -> String {
    let p = parts(ms);
    format!("{:04}{:02}{:02}", p.year, p.month, p.day)
}

/// Unix milliseconds of the first instant of a calendar month (UTC).
pub(crate) fn month_start(year: i64, month: u32) -> i64 {
    ms_from(year, month, 1, 0, 0, 0)
}

/// The month after `(year, month)`.
pub(crate) fn next_month(year: i64, month: u32) -> (i64, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// English month name, e.g. "December".
pub(crate) fn month_name(month: u32) -> &'static str {
    const NAMES: [&str; 12] = [
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
    NAMES[(month.clamp(1, 12) - 1) as usize]
}

/// Order of the date part of a company's date format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateOrder {
    /// "DD/MM/YYYY"
    Dmy,
    /// "MM/DD/YYYY"
    Mdy,
    /// "YYYY/MM/DD"
    Ymd,
}

impl DateOrder {
    /// The format name Keepnet uses ("DD/MM/YYYY", ...).
    pub(crate) fn name(self) -> &'static str {
        match self {
            DateOrder::Dmy => "DD/MM/YYYY",
            DateOrder::Mdy => "MM/DD/YYYY",
            DateOrder::Ymd => "YYYY/MM/DD",
        }
    }

    fn date(self, p: &Parts) -> String {
        match self {
            DateOrder::Dmy => format!("{:02}/{:02}/{:04}", p.day, p.month, p.year),
            DateOrder::Mdy => format!("{:02}/{:02}/{:04}", p.month, p.day, p.year),
            DateOrder::Ymd => format!("{:04}/{:02}/{:02}", p.year, p.month, p.day),
        }
    }
}

/// How one company's responses render date-times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    /// Date part order of the company's `dateFormat`.
    pub(crate) order: DateOrder,
    /// `timeFormat` "12h" (else "24h").
    pub(crate) h12: bool,
    /// Whether user dates follow the company format (else ISO 8601).
    pub(crate) company_format: bool,
}

impl Style {
    /// The company's own format, to the minute: "05/03/2024 18:25",
    /// "03/05/2024 06:25 PM", "2024/03/05 18:25".
    pub(crate) fn minute(&self, ms: i64) -> String {
        let p = parts(ms);
        let date = self.order.date(&p);
        if self.h12 {
            let h = match p.hour % 12 {
                0 => 12,
                h => h,
            };
            let ampm = if p.hour < 12 { "AM" } else { "PM" };
            format!("{date} {h:02}:{:02} {ampm}", p.minute)
        } else {
            format!("{date} {:02}:{:02}", p.hour, p.minute)
        }
    }

    /// The company's date order with 24 h time to the second:
    /// "05/03/2024 18:25:30" (the older notes' "dd/MM/yyyy HH:mm:ss").
    pub(crate) fn seconds(&self, ms: i64) -> String {
        let p = parts(ms);
        format!(
            "{} {:02}:{:02}:{:02}",
            self.order.date(&p),
            p.hour,
            p.minute,
            p.second
        )
    }

    /// A user's createTime text.
    pub(crate) fn create_text(&self, ms: i64) -> String {
        if self.company_format {
            self.minute(ms)
        } else {
            iso_ms(ms)
        }
    }

    /// A user's updateTime text; `odd` picks the seconds form for ISO
    /// companies (ignored by company-format ones).
    pub(crate) fn update_text(&self, ms: i64, odd: bool) -> String {
        if self.company_format {
            self.minute(ms)
        } else if odd {
            self.seconds(ms)
        } else {
            iso_ms(ms)
        }
    }

    /// The `periodStart` of a month in count-summary.
    pub(crate) fn period_start(&self, ms: i64) -> String {
        if self.company_format {
            self.minute(ms)
        } else {
            iso_plain(ms)
        }
    }
}

/// "2025-12-01T00:00:00" (no fraction, no zone).
pub(crate) fn iso_plain(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let ms = ms_from(2024, 3, 5, 18, 25, 30) + 123;
        assert_eq!(iso_ms(ms), "2024-03-05T18:25:30.123Z");
        assert_eq!(iso_s(ms), "2024-03-05T18:25:30Z");
        assert_eq!(iso_plain(ms), "2024-03-05T18:25:30");
        assert_eq!(ymd_compact(ms), "20240305");
        let style = |order, h12| Style {
            order,
            h12,
            company_format: true,
        };
        assert_eq!(style(DateOrder::Dmy, false).minute(ms), "05/03/2024 18:25");
        assert_eq!(
            style(DateOrder::Mdy, true).minute(ms),
            "03/05/2024 06:25 PM"
        );
        assert_eq!(style(DateOrder::Ymd, false).minute(ms), "2024/03/05 18:25");
        assert_eq!(
            style(DateOrder::Dmy, true).minute(ms),
            "05/03/2024 06:25 PM"
        );
        assert_eq!(style(DateOrder::Mdy, false).minute(ms), "03/05/2024 18:25");
        assert_eq!(
            style(DateOrder::Dmy, false).seconds(ms),
            "05/03/2024 18:25:30"
        );
        assert_eq!(
            style(DateOrder::Mdy, true).seconds(ms),
            "03/05/2024 18:25:30"
        );
        let h12 = style(DateOrder::Mdy, true);
        assert_eq!(
            h12.minute(ms_from(2024, 3, 5, 0, 7, 0)),
            "03/05/2024 12:07 AM"
        );
        assert_eq!(
            h12.minute(ms_from(2024, 3, 5, 12, 7, 0)),
            "03/05/2024 12:07 PM"
        );
        assert_eq!(
            h12.minute(ms_from(2024, 3, 5, 11, 59, 0)),
            "03/05/2024 11:59 AM"
        );
        assert_eq!(
            h12.minute(ms_from(2024, 3, 5, 23, 0, 0)),
            "03/05/2024 11:00 PM"
        );
        let iso = Style {
            company_format: false,
            ..h12
        };
        assert_eq!(iso.create_text(ms), "2024-03-05T18:25:30.123Z");
        assert_eq!(iso.update_text(ms, true), "03/05/2024 18:25:30");
        assert_eq!(
            iso.period_start(month_start(2025, 12)),
            "2025-12-01T00:00:00"
        );
        assert_eq!(
            h12.period_start(month_start(2025, 12)),
            "12/01/2025 12:00 AM"
        );
        assert_eq!(next_month(2025, 12), (2026, 1));
        assert_eq!(month_name(12), "December");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
    }
}
