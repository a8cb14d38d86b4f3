//! Minimal UTC calendar arithmetic and formatting (no external date crate).

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Calendar date (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

/// Keepnet's other format: "05/03/2024 10:15:30" (dd/MM/yyyy HH:mm:ss).
pub(crate) fn dmy(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
        p.day, p.month, p.year, p.hour, p.minute, p.second
    )
}

/// "20240305"
pub(crate) fn ymd_compact(ms: i64) -> String {
    let p = parts(ms);
    format!("{:04}{:02}{:02}", p.year, p.month, p.day)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse the two formats this sandbox emits (ISO 8601 UTC with optional
/// fraction, and dd/MM/yyyy HH:mm:ss) into unix milliseconds.
pub(crate) fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() >= 19 && s.as_bytes().get(4) == Some(&b'-') {
        let year = num(&s[0..4])?;
        let month = num(&s[5..7])?;
        let day = num(&s[8..10])?;
        let h = num(&s[11..13])?;
        let m = num(&s[14..16])?;
        let sec = num(&s[17..19])?;
        let mut ms = ms_from(i64::from(year), month, day, h, m, sec);
        if let Some(frac) = s[19..].strip_prefix('.') {
            let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
            let mut d = digits.chars().take(3).collect::<String>();
            while d.len() < 3 {
                d.push('0');
            }
            ms += i64::from(num(&d)?);
        }
        return Some(ms);
    }
    if s.len() == 19 && s.as_bytes().get(2) == Some(&b'/') {
        let day = num(&s[0..2])?;
        let month = num(&s[3..5])?;
        let year = num(&s[6..10])?;
        let h = num(&s[11..13])?;
        let m = num(&s[14..16])?;
        let sec = num(&s[17..19])?;
        return Some(ms_from(i64::from(year), month, day, h, m, sec));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ms = ms_from(2024, 3, 5, 10, 15, 30) + 123;
        assert_eq!(iso_ms(ms), "2024-03-05T10:15:30.123Z");
        assert_eq!(iso_s(ms), "2024-03-05T10:15:30Z");
        assert_eq!(dmy(ms), "05/03/2024 10:15:30");
        assert_eq!(ymd_compact(ms), "20240305");
        assert_eq!(parse_ms("2024-03-05T10:15:30.123Z"), Some(ms));
        assert_eq!(parse_ms("05/03/2024 10:15:30"), Some(ms - 123));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
        assert_eq!(parse_ms("garbage"), None);
    }
}
