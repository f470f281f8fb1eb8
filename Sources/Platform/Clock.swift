internal import Glibc

/// Time as this service needs it: a monotonic clock for durations, UTC timestamps for records.
public enum Clock {
  /// `CLOCK_MONOTONIC` in nanoseconds.
  public static func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
  }

  /// Sleeps for `milliseconds` (`nanosleep(2)`, resumed after a signal).
  public static func sleep(milliseconds: Int) {
    var remaining = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var left = timespec()
    while nanosleep(&remaining, &left) == -1 && errno == EINTR { remaining = left }
  }

  /// Seconds since the Unix epoch, `CLOCK_REALTIME`.
  public static func unixSeconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return now.tv_sec
  }

  /// Now as RFC 3339 UTC with milliseconds, for example `2026-11-29T09:49:12.123Z`.
  public static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
      + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
      + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
  }
}
