public import Testing

extension Tag {
  /// Tests that start real processes: nginx, `contacts-fcgi serve` and its workers, openssl,
  /// curl. Slower than the rest, and they need nginx installed. Every suite in EndToEndTests
  /// carries it; see Tests/README.md for running the fast tests alone.
  @Tag public static var endToEnd: Self
}
