/**
 * Internal: the times the Sauce API writes — RFC 3339 (`expires_at`) and HTTP dates (`Date`,
 * `Retry-After`) — read strictly: a time that does not exist (a 30 February, a 25th hour) is no
 * time, where `Date.UTC` would quietly roll it over.
 *
 * @example
 * ```ts
 * import { parseRfc3339 } from "./dates.ts";
 * parseRfc3339("2030-01-01T00:00:00Z"); // 1893456000000
 * parseRfc3339("2030-02-30T00:00:00Z"); // undefined
 * ```
 *
 * @module
 */

/**
 * A UTC time from its parts, or undefined when the parts name no real time (a 30 February, a
 * 25th hour): `Date.UTC` would quietly roll them over. A leap second counts as the second before.
 */
function utcTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  const time = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const date = new Date(time);
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day && hour <= 23 && minute <= 59 && second <= 60;
  return real ? time : undefined;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** An RFC 3339 time in ms since the epoch; undefined for anything else or an impossible date. */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction, sign, offsetHours, offsetMinutes] =
    match;
  const time = utcTime(+year, +month, +day, +hour, +minute, +second);
  if (time === undefined || Number(offsetHours ?? 0) > 23 || Number(offsetMinutes ?? 0) > 59) {
    return undefined;
  }
  const offset = (Number(offsetHours ?? 0) * 60 + Number(offsetMinutes ?? 0)) * 60_000;
  return time + Math.floor(Number(`0${fraction ?? ""}`) * 1000) - (sign === "-" ? -offset : offset);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;

const RFC850_DATE =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;

const ASCTIME_DATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and asctime forms) in ms since
 * the epoch; undefined for anything else (`-5`, an impossible date).
 */
export function parseHttpDate(text: string): number | undefined {
  const month = (name: string) => MONTHS.indexOf(name) + 1;
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, name, year, hour, minute, second] = match;
    return utcTime(+year, month(name), +day, +hour, +minute, +second);
  }
  match = RFC850_DATE.exec(text);
  if (match) {
    const [, day, name, shortYear, hour, minute, second] = match;
    // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(shortYear);
    if (year > thisYear + 50) year -= 100;
    return utcTime(year, month(name), +day, +hour, +minute, +second);
  }
  match = ASCTIME_DATE.exec(text);
  if (match) {
    const [, name, day, hour, minute, second, year] = match;
    return utcTime(+year, month(name), +day, +hour, +minute, +second);
  }
  return undefined;
}
