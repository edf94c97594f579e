//! `X-Amz-Date` timestamps (`20230725T090037Z`) to and from `SystemTime`, and
//! the HTTP `Date` header every answer carries.
//!
//! SigV4 carries time in this compact ISO-8601 form. The verifier needs it as a
//! `SystemTime` to check expiry against the simulated clock, and back as text to tell
//! the client which times disagreed. The conversion is the proleptic-Gregorian
//! days-from-civil arithmetic, written here so the simulator needs no date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;

/// Days between 1970-01-01 and the given civil date (negative before the epoch).
///
/// Shifts the year to start in March so the leap day is the last day of the
/// "year", which makes each 400-year era a fixed 146 097 days.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let shifted_month = i64::from((month + 9) % 12); // March = 0 … February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01; the inverse
/// of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYYMMDD'T'HHMMSS'Z'`; `None` for anything else, including impossible
/// dates (Feb 30) and times before 1970, so a malformed date is refused rather than
/// silently normalised into a different instant.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = i64::from(digits(0..4)?);
    let (month, day) = (digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let valid_date = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    if !valid_date || hour > 23 || minute > 59 || second > 59 || year < 1970 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour * 3600 + minute * 60 + second);
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Formats a time as `YYYYMMDD'T'HHMMSS'Z'`, truncating sub-second precision the way
/// signers do. Times before 1970 format as the epoch (the simulator never needs them).
pub fn format_amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
}

/// Formats a time as an HTTP `Date` header does (RFC 9110's IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`), as AWS's services send it with every
/// answer and as clients learn the service's clock from.
pub fn format_http_date(time: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
    let days = secs.div_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!(
        "{}, {day:02} {} {year:04} {hour:02}:{minute:02}:{second:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_parse_to_their_unix_seconds() {
        let cases = [
            ("19700101T000000Z", 0),
            ("20230725T090037Z", 1_690_275_637),
            ("20240229T235959Z", 1_709_251_199),
            ("20000301T000000Z", 951_868_800),
        ];
        for (text, secs) in cases {
            let parsed = parse_amz_date(text).unwrap();
            assert_eq!(parsed, UNIX_EPOCH + Duration::from_secs(secs), "{text}");
            assert_eq!(format_amz_date(parsed), text);
        }
    }

    #[test]
    fn every_day_over_four_centuries_round_trips() {
        let start = days_from_civil(1970, 1, 1);
        assert_eq!(start, 0);
        for days in 0..(400 * 366) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d <= days_in_month(y, m));
        }
    }

    #[test]
    fn malformed_or_impossible_dates_are_refused() {
        for text in [
            "20230725T090037",
            "20230725 090037Z",
            "2023072aT090037Z",
            "20230230T000000Z",
            "20230101T240000Z",
            "19691231T235959Z",
            "+0230725T090037Z",
            "20230725T09003éZ",
        ] {
            assert_eq!(parse_amz_date(text), None, "{text}");
        }
    }
}
