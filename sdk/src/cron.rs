//! [`Cron`]: when a schedule fires, as a cron expression read in UTC or in an
//! IANA time zone.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a [`crate::Vow::schedule`] fires: a cron expression, in UTC unless it
/// names a time zone.
///
/// Five fields (`minute hour day-of-month month day-of-week`), or six with
/// seconds first. Each field is `*`, a number, a range `a-b`, a step `*/n` or
/// `a-b/n`, or a comma-separated list of these; months and weekdays also take
/// names (`JAN`, `MON`; Sunday is 0 or 7). When both day fields are
/// restricted, a day matching either fires, as in classic cron. `@yearly`,
/// `@monthly`, `@weekly`, `@daily` and `@hourly` are short for the usual
/// expressions.
///
/// **Time zones.** [`Cron::in_zone`] (or a `CRON_TZ=<IANA name>` prefix, as in
/// cronie) reads the fields as wall-clock time in that zone; the rules come
/// from the IANA database bundled with the [`jiff`] crate, so a worker needs
/// no `/usr/share/zoneinfo`. On daylight-saving days a wall time that does
/// not exist (02:30 when clocks spring forward from 02:00 to 03:00) fires
/// once, shifted forward by the gap (03:30), and a wall time that occurs twice
/// (01:30 when clocks fall back) fires once, at its first occurrence (RFC
/// 5545's rule, jiff's `compatible`).
///
/// **Minimum interval.** An expression that fires more than once a minute
/// (a seconds field naming more than one second) parses, but
/// [`crate::Vow::schedule`] refuses it unless [`Cron::allow_sub_minute`] says
/// the caller means it: each firing costs a few store writes.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use vow::Cron;
/// let weekdays_at_nine: Cron = "0 9 * * MON-FRI".parse()?;
/// // 2026-12-04 was a Friday; the next firing after 10:00 is Monday 09:00.
/// let friday_ten = UNIX_EPOCH + Duration::from_secs(1_796_378_400);
/// let monday_nine = UNIX_EPOCH + Duration::from_secs(1_796_374_800 + 3 * 86_400);
/// assert_eq!(weekdays_at_nine.next_after(friday_ten), Some(monday_nine));
/// // The same at nine in Paris (UTC+1 in December): an hour earlier in UTC.
/// let paris = weekdays_at_nine.in_zone("Europe/Paris")?;
/// assert_eq!(paris.to_string(), "CRON_TZ=Europe/Paris 0 9 * * MON-FRI");
/// let paris_nine = monday_nine - Duration::from_secs(3_600);
/// assert_eq!(paris.next_after(friday_ten), Some(paris_nine));
/// assert!("61 * * * *".parse::<Cron>().is_err());
/// assert!("CRON_TZ=Mars/Olympus 0 9 * * *".parse::<Cron>().is_err());
/// # Ok::<(), vow::CronError>(())
/// ```
#[derive(Clone)]
pub struct Cron {
    /// The expression as written, with its `CRON_TZ=` prefix if it has a zone.
    text: String,
    zone: TimeZone,
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether the day-of-month and day-of-week fields are `*`.
    any_day: bool,
    any_weekday: bool,
    /// Whether [`crate::Vow::schedule`] may run it more than once a minute.
    sub_minute: bool,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Cron) -> bool {
        self.text == other.text && self.sub_minute == other.sub_minute
    }
}

impl Eq for Cron {}

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
const HORIZON_DAYS: u32 = 366 * 29;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The prefix that names a time zone, as in cronie: `CRON_TZ=Europe/Paris 0 9 * * *`.
const ZONE_PREFIX: &str = "CRON_TZ=";

impl Cron {
    /// Parse a cron expression (see [`Cron`]), with an optional
    /// `CRON_TZ=<IANA name>` prefix.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(ZONE_PREFIX) {
            let (zone, expr) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                CronError(format!("`{text}` names a time zone but no expression"))
            })?;
            return Cron::parse_utc(expr)?.in_zone(zone);
        }
        Cron::parse_utc(text)
    }

    fn parse_utc(text: &str) -> Result<Cron, CronError> {
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
            zone: TimeZone::UTC,
            seconds: field(seconds, "second", 0, 59, &[])?,
            minutes: field(rest[0], "minute", 0, 59, &[])?,
            hours: field(rest[1], "hour", 0, 23, &[])?,
            days: field(rest[2], "day-of-month", 1, 31, &[])?,
            months: field(rest[3], "month", 1, 12, &MONTHS)?,
            weekdays,
            any_day: rest[2] == "*",
            any_weekday: rest[4] == "*",
            sub_minute: false,
        })
    }

    /// The same expression read as wall-clock time in the IANA time zone
    /// `zone` (`"Europe/Paris"`, `"America/New_York"`, `"UTC"`).
    ///
    /// ```
    /// let cron = vow::Cron::parse("0 9 * * *")?.in_zone("America/New_York")?;
    /// assert_eq!(cron.zone(), Some("America/New_York"));
    /// assert!(vow::Cron::parse("0 9 * * *")?.in_zone("Nowhere/Special").is_err());
    /// # Ok::<(), vow::CronError>(())
    /// ```
    pub fn in_zone(self, zone: &str) -> Result<Cron, CronError> {
        let tz = TimeZone::get(zone).map_err(|e| CronError(format!("time zone `{zone}`: {e}")))?;
        let expr = self.expression().to_owned();
        Ok(Cron {
            text: format!("{ZONE_PREFIX}{zone} {expr}"),
            zone: tz,
            ..self
        })
    }

    /// The IANA time zone the expression is read in; `None` for UTC by default.
    pub fn zone(&self) -> Option<&str> {
        self.text
            .strip_prefix(ZONE_PREFIX)
            .and_then(|rest| rest.split_whitespace().next())
    }

    /// The expression without its time zone.
    fn expression(&self) -> &str {
        match self.text.strip_prefix(ZONE_PREFIX) {
            Some(rest) => rest
                .split_once(char::is_whitespace)
                .map_or(rest, |(_, expr)| expr.trim_start()),
            None => &self.text,
        }
    }

    /// Let [`crate::Vow::schedule`] run this expression more than once a
    /// minute (by default it refuses to).
    ///
    /// ```
    /// let every_second: vow::Cron = "* * * * * *".parse()?;
    /// assert!(every_second.is_sub_minute());
    /// let every_second = every_second.allow_sub_minute();
    /// # Ok::<(), vow::CronError>(())
    /// ```
    pub fn allow_sub_minute(self) -> Cron {
        Cron {
            sub_minute: true,
            ..self
        }
    }

    /// Whether the expression fires more than once in some minute.
    pub fn is_sub_minute(&self) -> bool {
        self.seconds.count_ones() > 1
    }

    /// Why [`crate::Vow::schedule`] refuses this expression, if it does.
    /// With no deployment minimum (`min`): it fires more than once a minute
    /// and [`Cron::allow_sub_minute`] was not called. With one: its firings
    /// can come closer together than `min` ([`Cron::shortest_gap`]).
    pub(crate) fn too_often(&self, min: Option<Duration>) -> Option<String> {
        let Some(min) = min else {
            return (self.is_sub_minute() && !self.sub_minute).then(|| {
                format!(
                    "`{self}` fires more than once a minute; schedules fire at most once a \
                     minute unless the cron says `.allow_sub_minute()`"
                )
            });
        };
        let gap = self.shortest_gap()?;
        (gap < min).then(|| {
            format!(
                "`{self}` can fire {}s after its previous firing; this deployment's schedules \
                 fire at least {}s apart ({}, VowBuilder::min_schedule_interval)",
                gap.as_secs(),
                min.as_secs(),
                crate::engine::ENV_MIN_SCHEDULE_INTERVAL_SECS
            )
        })
    }

    /// The shortest time between two firings, by the clock of its zone
    /// (a daylight-saving change can shorten it by the change): the closest
    /// two times of day it names, or the last and the first of a day taken as
    /// a day apart. `None` if it names no time of day.
    ///
    /// ```
    /// use std::time::Duration;
    /// let gap = |c: &str| c.parse::<vow::Cron>().unwrap().shortest_gap().unwrap();
    /// assert_eq!(gap("*/5 * * * *"), Duration::from_secs(300));
    /// assert_eq!(gap("0 23,1 * * *"), Duration::from_secs(2 * 3600));
    /// assert_eq!(gap("0 9 * * 1"), Duration::from_secs(86_400));
    /// ```
    pub fn shortest_gap(&self) -> Option<Duration> {
        let (mut first, mut last, mut gap) = (None, None::<i64>, i64::MAX);
        for hour in (0..24).filter(|h| bit(self.hours, *h)) {
            for minute in (0..60).filter(|m| bit(self.minutes, *m)) {
                for second in (0..60).filter(|s| bit(self.seconds, *s)) {
                    let at = hour * 3_600 + minute * 60 + second;
                    if let Some(before) = last {
                        gap = gap.min(at - before);
                    }
                    first.get_or_insert(at);
                    last = Some(at);
                }
            }
        }
        gap = gap.min(86_400 - last? + first?);
        Some(Duration::from_secs(u64::try_from(gap).unwrap_or(86_400)))
    }

    /// The first time strictly after `after` that this expression names, in
    /// whole seconds; `None` if there is none within 29 years (`0 0 30 2 *`).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let secs = i64::try_from(after.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
        let start = Timestamp::from_second(secs.checked_add(1)?).ok()?;
        let local = self.zone.to_datetime(start);
        let mut date = local.date();
        let first = local.date();
        for _ in 0..HORIZON_DAYS {
            if self.fires_on(date) {
                let mut from = if date == first {
                    seconds_of_day(local)
                } else {
                    0
                };
                // Usually the first firing second of the day is the answer; a
                // wall time repeated when clocks fall back may map to an
                // instant before `start`, and then the next one is tried.
                while let Some(second) = self.first_second_of_day(from) {
                    let at = self.instant(date, second)?;
                    if at >= start {
                        let at = u64::try_from(at.as_second()).ok()?;
                        return Some(UNIX_EPOCH + Duration::from_secs(at));
                    }
                    from = second + 1;
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The instant of wall time `second` (of the day) on `date` in the zone.
    fn instant(&self, date: Date, second: i64) -> Option<Timestamp> {
        let (h, m, s) = (second / 3_600, second / 60 % 60, second % 60);
        let time = Time::new(
            i8::try_from(h).ok()?,
            i8::try_from(m).ok()?,
            i8::try_from(s).ok()?,
            0,
        )
        .ok()?;
        self.zone
            .to_ambiguous_timestamp(DateTime::from_parts(date, time))
            .compatible()
            .ok()
    }

    /// Whether `date` (in the zone) is a firing day.
    fn fires_on(&self, date: Date) -> bool {
        let (month, dom) = (i64::from(date.month()), i64::from(date.day()));
        let weekday = i64::from(date.weekday().to_sunday_zero_offset());
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

/// Seconds since midnight of a wall time.
fn seconds_of_day(dt: DateTime) -> i64 {
    let t = dt.time();
    i64::from(t.hour()) * 3_600 + i64::from(t.minute()) * 60 + i64::from(t.second())
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

    /// A UTC date and time.
    fn at(year: i16, month: i8, day: i8, h: i8, m: i8, s: i8) -> SystemTime {
        local("UTC", year, month, day, h, m, s)
    }

    /// A wall time in `zone` (the earlier of two, when clocks fall back).
    fn local(zone: &str, year: i16, month: i8, day: i8, h: i8, m: i8, s: i8) -> SystemTime {
        let dt = jiff::civil::date(year, month, day).at(h, m, s, 0);
        let ts = TimeZone::get(zone)
            .expect("zone")
            .to_ambiguous_timestamp(dt)
            .earlier()
            .expect("a time");
        SystemTime::try_from(ts).expect("a system time")
    }

    fn next(cron: &str, after: SystemTime) -> Option<SystemTime> {
        Cron::parse(cron).expect("parses").next_after(after)
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

    #[test]
    fn time_zones_follow_daylight_saving() {
        let paris = |text: &str| {
            Cron::parse(text)
                .expect("parses")
                .in_zone("Europe/Paris")
                .expect("a zone")
        };
        // Winter (UTC+1) and summer (UTC+2).
        let nine = paris("0 9 * * *");
        assert_eq!(
            nine.next_after(at(2026, 1, 10, 12, 0, 0)),
            Some(at(2026, 1, 11, 8, 0, 0))
        );
        assert_eq!(
            nine.next_after(at(2026, 7, 10, 12, 0, 0)),
            Some(at(2026, 7, 11, 7, 0, 0))
        );
        // Spring forward, 29 March 2026: 02:00 CET becomes 03:00 CEST. 02:30
        // does not exist; it fires once, an hour later (03:30 CEST = 01:30 UTC).
        let half_past_two = paris("30 2 * * *");
        assert_eq!(
            half_past_two.next_after(at(2026, 3, 28, 12, 0, 0)),
            Some(at(2026, 3, 29, 1, 30, 0))
        );
        assert_eq!(
            half_past_two.next_after(at(2026, 3, 29, 1, 30, 0)),
            Some(at(2026, 3, 30, 0, 30, 0))
        );
        // Hourly at :30 that day: 01:30 CET, then 03:30 CEST once, then 04:30.
        let hourly = paris("30 * * * *");
        let mut t = at(2026, 3, 28, 23, 59, 0);
        let mut seen = Vec::new();
        for _ in 0..4 {
            t = hourly.next_after(t).expect("fires");
            seen.push(t);
        }
        assert_eq!(
            seen,
            [
                at(2026, 3, 29, 0, 30, 0),
                at(2026, 3, 29, 1, 30, 0),
                at(2026, 3, 29, 2, 30, 0),
                at(2026, 3, 29, 3, 30, 0),
            ]
        );
        // Fall back, 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30
        // happens twice; it fires once, at the first (00:30 UTC), and the
        // next day at 02:30 CET (01:30 UTC).
        assert_eq!(
            half_past_two.next_after(at(2026, 10, 24, 12, 0, 0)),
            Some(at(2026, 10, 25, 0, 30, 0))
        );
        assert_eq!(
            half_past_two.next_after(at(2026, 10, 25, 0, 30, 0)),
            Some(at(2026, 10, 26, 1, 30, 0))
        );
        // Asked from inside the repeated hour (02:40 CET, the second pass).
        assert_eq!(
            half_past_two.next_after(at(2026, 10, 25, 1, 40, 0)),
            Some(at(2026, 10, 26, 1, 30, 0))
        );
        // New York's zone, written with the prefix, round-trips through serde.
        let ny: Cron = "CRON_TZ=America/New_York 0 9 * * MON-FRI"
            .parse()
            .expect("parses");
        assert_eq!(ny.zone(), Some("America/New_York"));
        assert_eq!(
            ny.next_after(at(2026, 12, 4, 20, 0, 0)),
            Some(local("America/New_York", 2026, 12, 7, 9, 0, 0))
        );
        let json = serde_json::to_string(&ny).expect("encodes");
        assert_eq!(json, "\"CRON_TZ=America/New_York 0 9 * * MON-FRI\"");
        assert_eq!(serde_json::from_str::<Cron>(&json).expect("decodes"), ny);
        assert!(Cron::parse("CRON_TZ=Europe/Paris").is_err());
        assert!(Cron::parse("CRON_TZ=Not/AZone 0 9 * * *").is_err());
    }

    #[test]
    fn more_than_once_a_minute_needs_saying_so() {
        let every_second = Cron::parse("* * * * * *").expect("parses");
        assert!(every_second.too_often(None).is_some());
        assert!(every_second
            .clone()
            .allow_sub_minute()
            .too_often(None)
            .is_none());
        let every_ten = Cron::parse("*/10 * * * * *").expect("parses");
        assert!(every_ten
            .too_often(None)
            .expect("refused")
            .contains("allow_sub_minute"));
        for once_a_minute in ["* * * * *", "30 * * * * *", "0 */5 * * *"] {
            let cron = Cron::parse(once_a_minute).expect("parses");
            assert!(cron.too_often(None).is_none(), "{once_a_minute}");
        }
    }

    #[test]
    fn a_deployment_minimum_is_a_floor_for_every_cron() {
        let ten_minutes = Some(Duration::from_secs(600));
        let refused = |c: &str, min| Cron::parse(c).expect("parses").too_often(min);
        let why = refused("*/5 * * * *", ten_minutes).expect("refused");
        assert!(
            why.contains("can fire 300s after its previous firing")
                && why.contains("at least 600s apart (VOW_MIN_SCHEDULE_INTERVAL_SECS"),
            "{why}"
        );
        assert!(refused("*/10 * * * *", ten_minutes).is_none());
        assert!(refused("0 9 * * *", ten_minutes).is_none());
        // Across midnight: 23:55 and 00:00 are five minutes apart.
        assert!(refused("0,55 0,23 * * *", ten_minutes).is_some());
        // allow_sub_minute does not lift a deployment's floor.
        let fast = Cron::parse("*/10 * * * * *")
            .expect("parses")
            .allow_sub_minute();
        assert!(fast.too_often(ten_minutes).is_some());
        assert!(fast.too_often(Some(Duration::from_secs(5))).is_none());
        // A floor under a minute lets sub-minute crons through unmarked.
        assert!(refused("*/10 * * * * *", Some(Duration::from_secs(10))).is_none());
    }
}
