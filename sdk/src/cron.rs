//! [`Cron`]: when a schedule fires, as a cron expression read in UTC.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a [`crate::Vow::schedule`] fires: a cron expression, in UTC.
///
/// Five fields (`minute hour day-of-month month day-of-week`), or six with
/// seconds first. Each field is `*`, a number, a range `a-b`, a step `*/n` or
/// `a-b/n`, or a comma-separated list of these; months and weekdays also take
/// names (`JAN`, `MON`; Sunday is 0 or 7). When both day fields are
/// restricted, a day matching either fires, as in classic cron. `@yearly`,
/// `@monthly`, `@weekly`, `@daily` and `@hourly` are short for the usual
/// expressions.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use vow::Cron;
/// let weekdays_at_nine: Cron = "0 9 * * MON-FRI".parse()?;
/// // 2026-12-04 was a Friday; the next firing after 10:00 is Monday 09:00.
/// let friday_ten = UNIX_EPOCH + Duration::from_secs(1_796_378_400);
/// let monday_nine = UNIX_EPOCH + Duration::from_secs(1_796_374_800 + 3 * 86_400);
/// assert_eq!(weekdays_at_nine.next_after(friday_ten), Some(monday_nine));
/// assert!("61 * * * *".parse::<Cron>().is_err());
/// # Ok::<(), vow::CronError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether the day-of-month and day-of-week fields are `*`.
    any_day: bool,
    any_weekday: bool,
}

/// Why a text is not a cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronError(String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

/// How far ahead [`Cron::next_after`] looks: long enough for 29 February on
/// a given weekday.
const HORIZON_DAYS: i64 = 366 * 29;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    /// Parse a cron expression (see [`Cron`]).
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(CronError(format!(
                    "`{text}` has {n} fields; a cron expression has 5 (minute hour \
                     day-of-month month day-of-week) or 6 (seconds first)"
                )))
            }
        };
        let mut weekdays = field(rest[4], "day-of-week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Cron {
            text: text.trim().to_owned(),
            seconds: field(seconds, "second", 0, 59, &[])?,
            minutes: field(rest[0], "minute", 0, 59, &[])?,
            hours: field(rest[1], "hour", 0, 23, &[])?,
            days: field(rest[2], "day-of-month", 1, 31, &[])?,
            months: field(rest[3], "month", 1, 12, &MONTHS)?,
            weekdays,
            any_day: rest[2] == "*",
            any_weekday: rest[4] == "*",
        })
    }

    /// The first time strictly after `after` that this expression names, in
    /// whole seconds; `None` if there is none within 29 years (`0 0 30 2 *`).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let secs = i64::try_from(after.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
        let start = secs.checked_add(1)?;
        let (first_day, first_second) = (start.div_euclid(86_400), start.rem_euclid(86_400));
        for day in first_day..first_day.checked_add(HORIZON_DAYS)? {
            if !self.fires_on(day) {
                continue;
            }
            let from = if day == first_day { first_second } else { 0 };
            if let Some(second) = self.first_second_of_day(from) {
                let at = day.checked_mul(86_400)?.checked_add(second)?;
                return Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(at).ok()?));
            }
        }
        None
    }

    /// Whether the day `day` (days since the Unix epoch) is a firing day.
    fn fires_on(&self, day: i64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        let weekday = (day + 4).rem_euclid(7); // 1970-01-01 was a Thursday
        let by_day = bit(self.days, dom);
        let by_weekday = bit(self.weekdays, weekday);
        let day_ok = match (self.any_day, self.any_weekday) {
            (false, false) => by_day || by_weekday,
            _ => by_day && by_weekday,
        };
        bit(self.months, month) && day_ok
    }

    /// The first second of a firing day, at or after second `from`, that fires.
    fn first_second_of_day(&self, from: i64) -> Option<i64> {
        for hour in from / 3_600..24 {
            if !bit(self.hours, hour) {
                continue;
            }
            for minute in 0..60 {
                if !bit(self.minutes, minute) {
                    continue;
                }
                for second in 0..60 {
                    let at = hour * 3_600 + minute * 60 + second;
                    if at >= from && bit(self.seconds, second) {
                        return Some(at);
                    }
                }
            }
        }
        None
    }
}

fn bit(set: u64, n: i64) -> bool {
    (0..64).contains(&n) && set & (1 << n) != 0
}

/// The set of values one field names, as bits.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, CronError> {
    let bad = |why: &str| CronError(format!("{name} field `{text}`: {why}"));
    let value = |s: &str| -> Result<u32, CronError> {
        let upper = s.to_ascii_uppercase();
        let n = match names.iter().position(|n| *n == upper) {
            Some(i) => u32::try_from(i).unwrap_or(0) + if name == "month" { 1 } else { 0 },
            None => s
                .parse::<u32>()
                .map_err(|_| bad(&format!("`{s}` is not a number")))?,
        };
        if n < min || n > max {
            return Err(bad(&format!("{n} is outside {min}-{max}")));
        }
        Ok(n)
    };
    let mut set = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(&format!("step `{step}` is not a positive number")))?;
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(range)?, max),
                None => {
                    let n = value(range)?;
                    (n, n)
                }
            },
        };
        if low > high {
            return Err(bad(&format!("range {low}-{high} runs backwards")));
        }
        for n in (low..=high).step_by(step as usize) {
            set |= 1 << n;
        }
    }
    Ok(set)
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01 (the
/// proleptic Gregorian calendar; H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl FromStr for Cron {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, CronError> {
        Cron::parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.text)
    }
}

impl Serialize for Cron {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Cron {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cron::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since the epoch of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, h: i64, m: i64, s: i64) -> SystemTime {
        // Count days by walking civil_from_days' inverse the slow way.
        let mut d = (year - 1970) * 365 - 400;
        while civil_from_days(d) != (year, month, day) {
            d += 1;
        }
        UNIX_EPOCH + Duration::from_secs((d * 86_400 + h * 3_600 + m * 60 + s) as u64)
    }

    fn next(cron: &str, after: SystemTime) -> Option<SystemTime> {
        Cron::parse(cron).expect("parses").next_after(after)
    }

    #[test]
    fn the_calendar_is_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
    }

    #[test]
    fn expressions_name_the_next_time() {
        let now = at(2026, 12, 3, 10, 17, 30);
        assert_eq!(next("*/15 * * * *", now), Some(at(2026, 12, 3, 10, 30, 0)));
        assert_eq!(next("0 9 * * MON-FRI", now), Some(at(2026, 12, 4, 9, 0, 0)));
        assert_eq!(next("0 0 1 JAN *", now), Some(at(2027, 1, 1, 0, 0, 0)));
        assert_eq!(next("@hourly", now), Some(at(2026, 12, 3, 11, 0, 0)));
        assert_eq!(
            next("*/10 * * * * *", now),
            Some(at(2026, 12, 3, 10, 17, 40))
        );
        assert_eq!(next("0 0 29 2 *", now), Some(at(2028, 2, 29, 0, 0, 0)));
        // Both day fields restricted: either fires (the 13th, or a Friday).
        assert_eq!(next("0 0 13 * 5", now), Some(at(2026, 12, 4, 0, 0, 0)));
        // Sunday is 0 and 7.
        assert_eq!(next("0 0 * * 7", now), next("0 0 * * SUN", now));
        // Strictly after: a time that fires is not its own next.
        let nine = at(2026, 12, 4, 9, 0, 0);
        assert_eq!(next("0 9 * * *", nine), Some(at(2026, 12, 5, 9, 0, 0)));
        assert_eq!(next("0 0 30 2 *", now), None);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (text, says) in [
            ("* * * *", "has 4 fields"),
            ("60 * * * *", "outside 0-59"),
            ("* * * * * * *", "has 7 fields"),
            ("*/0 * * * *", "positive"),
            ("5-1 * * * *", "backwards"),
            ("* * * FOO *", "not a number"),
            ("* * 0 * *", "outside 1-31"),
        ] {
            let err = Cron::parse(text).expect_err(text);
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
        let cron: Cron = serde_json::from_str("\"@daily\"").expect("decodes");
        assert_eq!(serde_json::to_string(&cron).expect("encodes"), "\"@daily\"");
        assert!(serde_json::from_str::<Cron>("\"nope\"").is_err());
    }
}
